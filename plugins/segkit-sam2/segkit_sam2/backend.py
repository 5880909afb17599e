"""The sam2-* backends: Meta's SAM 2.1 through ``SAM2ImagePredictor``, on segkit-torch's ``TorchSegmenter``.

Built once per run (``load``); a lone image is encoded by ``set_image`` and all of its boxes go to one
``predict`` call. Several images (``batch_size`` > 1) are encoded in one forward pass (``set_image_batch``)
and decoded image by image (``predict_batch``), with the same masks as one at a time. What is SAM 2's own
lives here: the hydra config inside the sam2 package, the reduced input size, the predictor and what a
checkpoint that does not load really holds.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from segkit import BackendNotReady, Segmentation, exception_text, one_line
from segkit_sam2.models import MODELS, Sam2Model
from segkit_torch import SamOptions, TorchSegmenter, best_per_box, package_version
from segkit_torch.options import model_file_options

OFFICIAL_IMAGE_SIZE = 1024


@model_file_options(MODELS, "checkpoint_{key}", folder="checkpoint_dir", kind="checkpoint file")
class Sam2Options(SamOptions):
    """Options of every sam2-* backend: config `options.sam2`, SEGKIT_SAM2_<FIELD>, -O sam2.<field>=VALUE;
    checkpoint_tiny, _small, _base_plus, _large name one model's own file."""

    checkpoint_dir: Path = Field(Path("checkpoints"), description="folder holding the official sam2.1_hiera_*.pt files")
    image_size: int | None = Field(
        None, ge=64, description="model input size (default: the config's 1024, which the weights were trained at)"
    )
    batch_size: int = Field(1, ge=1, description="images encoded in one forward pass (set_image_batch); for GPUs")
    compile: bool = Field(False, description="torch.compile the image encoder (CUDA only; minutes of warm-up at load)")

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, value: int | None) -> int | None:
        if value is not None and value % 32:
            raise ValueError("must be a multiple of 32 (the Hiera backbone's stride)")
        return value


class Sam2Segmenter(TorchSegmenter):
    """Meta's SAM 2.1 (`sam2` package): one set_image per image, all boxes in one predict call."""

    options_key = "sam2"
    Options = Sam2Options
    package = "sam2"
    held = ("predictor",)

    folder_option, file_option = "checkpoint_dir", "checkpoint_{key}"

    def __init__(self, name: str, options: Sam2Options | None = None, *, size: str, config: str | None = None, **params: Any):
        super().__init__(name, options, size=size, config=config, **params)
        model = MODELS[size]
        self.model: Sam2Model = replace(model, config=config) if config else model
        self.key, self.checkpoint_file, self.checkpoint_url = size, model.file, model.url

    def readiness_problem(self) -> str | None:
        return config_problem(importlib.util.find_spec("sam2"), self.model.config) or super().readiness_problem()

    # -- running ---------------------------------------------------------------------------------

    def build(self) -> None:
        try:
            from hydra.errors import MissingConfigException
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor
        except RuntimeError as exc:  # sam2 refuses to run from its clone's parent folder
            raise BackendNotReady(f"backend {self.name!r}: cannot import sam2 ({one_line(exc)}); reinstall it with pip install -U sam2") from exc
        overrides = [f"++model.image_size={self.options.image_size}"] if self.options.image_size else []
        try:
            model = build_sam2(self.model.config, str(self.checkpoint), device=str(self.device), hydra_overrides_extra=overrides)
        except MissingConfigException as exc:
            raise BackendNotReady(
                f"backend {self.name!r}: sam2 has no config {self.model.config!r} ({exception_text(exc)}); sam2 looks configs up"
                f" by name inside its package (sam2 {package_version('sam2')}): upgrade it with pip install -U 'sam2>=1.1',"
                " and if your program initialises hydra itself, sam2's configs are not on its search path"
            ) from exc
        predictor = SAM2ImagePredictor(model, mask_threshold=self.options.mask_threshold)
        if model.image_size != OFFICIAL_IMAGE_SIZE:
            # SAM2ImagePredictor hard-codes the feature-map sizes of a 1024 input; derive them from the model.
            predictor._bb_feat_sizes = feature_sizes(model.image_size)
        self.predictor = predictor

    def load_failure(self, exc: Exception) -> str:  # what the file holds, told from its weights
        from segkit_torch.checkpoints import Sam2Weights, sam2_mismatch

        what = sam2_mismatch(self.checkpoint, self.name, Sam2Weights(self.model.version, self.model.key), exc)
        return f"backend {self.name!r}: checkpoint {self.checkpoint} {what}; use the official {self.model.file} ({self.model.url})"

    def compile_target(self) -> Any:
        return self.predictor.model.image_encoder

    def forward(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        images = [writeable(image) for image in images]
        multimask = self.options.multimask_output
        try:
            if len(images) == 1 and not self.compiling:
                self.predictor.set_image(images[0])
                masks, scores, _ = self.predictor.predict(box=boxes[0], multimask_output=multimask)
                return [best_per_box(masks, scores, len(boxes[0]))]
            self.predictor.set_image_batch(images)
            masks, scores, _ = self.predictor.predict_batch(box_batch=boxes, multimask_output=multimask)
            return [best_per_box(m, s, len(b)) for m, s, b in zip(masks, scores, boxes)]
        finally:
            self.predictor.reset_predictor()  # drop this batch's features, even when it failed

    def settings(self) -> dict[str, Any]:
        image_size = self.predictor.model.image_size if self.loaded else (self.options.image_size or OFFICIAL_IMAGE_SIZE)
        return {
            **super().settings(),
            "implementation": f"sam2 {package_version('sam2')} (Meta, SAM2ImagePredictor)",
            "model": f"SAM {self.model.version} hiera {self.model.label}",
            "config": self.model.config,
            "checkpoint": self.checkpoint.name,
            "multimask_output": self.options.multimask_output,
            "mask_threshold": self.options.mask_threshold,
            "image_size": image_size,
            "resize": f"stretch to {image_size}x{image_size} (aspect ratio not kept)",
            "compile": self.options.compile,
        }


def writeable(image: np.ndarray) -> np.ndarray:
    """sam2's ToTensor warns about read-only arrays (segkit's decoded images are); a copy costs ~1 ms."""
    return image if image.flags.writeable else image.copy()


def feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """Backbone feature-map sizes SAM2ImagePredictor reshapes to: strides 4, 8 and 16."""
    return [(image_size // s, image_size // s) for s in (4, 8, 16)]


def config_problem(spec: Any, config: str) -> str | None:
    """Whether the installed sam2 package holds ``config`` (hydra finds configs by name inside it)."""
    roots = [Path(p) for p in ((spec.submodule_search_locations or []) if spec else [])]
    candidates = [config, config + ".yaml"] if not config.endswith(".yaml") else [config]
    if any((root / c).is_file() for root in roots for c in candidates):
        return None
    hint = "; it is a name inside the sam2 package, not a file path" if Path(config).is_absolute() or Path(config).exists() else ""
    return (
        f"the installed sam2 {package_version('sam2')} has no config {config!r}{hint}"
        " (SAM 2.1 configs came with sam2 1.1); upgrade it with pip install -U 'sam2>=1.1'"
    )
