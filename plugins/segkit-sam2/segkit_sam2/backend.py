"""The sam2-* backends: Meta's SAM 2.1 through ``SAM2ImagePredictor``.

Built once per run (``load``); each image is encoded once (``set_image``) and all of its boxes go to one
``predict`` call. With ``batch_size`` > 1 the runner hands over several images: they are encoded in one
forward pass (``set_image_batch``) and decoded image by image (``predict_batch``), with the same masks as
one at a time. Nothing heavy is imported until ``load``: `segkit backends` only looks for files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit import BackendFatalError, Readiness, Segmentation, Segmenter
from segkit.errors import BackendNotReady, exception_text, one_line
from segkit_sam2.checkpoints import mismatch_message, missing_message
from segkit_sam2.models import MODELS, Sam2Model
from segkit_torch.options import DEVICE_HELP, DTYPE_HELP, DtypeName, check_device

OFFICIAL_IMAGE_SIZE = 1024


class Sam2Options(BaseModel):
    """Options of every sam2-* backend: config `options.sam2`, SEGKIT_SAM2_<FIELD>, -O sam2.<field>=VALUE."""

    model_config = ConfigDict(extra="forbid")

    checkpoint_dir: Path = Field(Path("checkpoints"), description="folder holding the official sam2.1_hiera_*.pt files")
    checkpoint_tiny: Path | None = Field(None, description="sam2-tiny's checkpoint file (default: checkpoint_dir/sam2.1_hiera_tiny.pt)")
    checkpoint_small: Path | None = Field(None, description="sam2-small's checkpoint file")
    checkpoint_base_plus: Path | None = Field(None, description="sam2-base-plus's checkpoint file")
    checkpoint_large: Path | None = Field(None, description="sam2-large's checkpoint file")
    device: str = Field("auto", description=DEVICE_HELP)
    dtype: DtypeName = Field("auto", description=DTYPE_HELP)
    multimask_output: bool = Field(False, description="ask for 3 masks per box and keep the best-scoring one")
    mask_threshold: float = Field(0.0, description="logit threshold of the masks (sam2's default 0.0)")
    image_size: int | None = Field(
        None, ge=64, description="model input size (default: the config's 1024, which the weights were trained at)"
    )
    batch_size: int = Field(1, ge=1, description="images encoded in one forward pass (set_image_batch); for GPUs")
    compile: bool = Field(False, description="torch.compile the image encoder (CUDA only; minutes of warm-up at load)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, value: int | None) -> int | None:
        if value is not None and value % 32:
            raise ValueError("must be a multiple of 32 (the Hiera backbone's stride)")
        return value


class Sam2Segmenter(Segmenter):
    """Meta's SAM 2.1 (`sam2` package): one set_image per image, all boxes in one predict call."""

    options_key = "sam2"
    Options = Sam2Options

    def __init__(self, name: str, options: Sam2Options | None = None, *, size: str, config: str | None = None, **params: Any):
        super().__init__(name, options, size=size, config=config, **params)
        model = MODELS[size]
        self.model: Sam2Model = replace(model, config=config) if config else model
        self.batch_size = self.options.batch_size
        self.predictor: Any = None
        self.device: Any = None
        self.dtype: Any = None
        self.tf32 = False

    # -- where things are ------------------------------------------------------------------------

    @property
    def checkpoint_option(self) -> str:
        return f"checkpoint_{self.model.size}"

    @property
    def checkpoint(self) -> Path:
        explicit = getattr(self.options, self.checkpoint_option)
        return Path(explicit) if explicit is not None else Path(self.options.checkpoint_dir) / self.model.checkpoint

    def check_ready(self) -> Readiness:
        spec = importlib.util.find_spec("sam2")
        if spec is None:
            return Readiness.missing("the sam2 package is not installed; pip install sam2 (Meta's SAM 2, needs torch>=2.5.1)")
        problem = config_problem(spec, self.model.config) or missing_message(self.model, self.checkpoint, self.checkpoint_option)
        if problem:
            return Readiness.missing(problem)
        megabytes = self.checkpoint.stat().st_size / 1e6
        return Readiness.ok(f"{self.checkpoint} ({megabytes:.0f} MB), sam2 {package_version('sam2')}")

    # -- running ---------------------------------------------------------------------------------

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {readiness.reason}")
        try:
            import torch
            from hydra.errors import MissingConfigException
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor
        except (ImportError, RuntimeError) as exc:  # RuntimeError: sam2 refuses to run from its clone's parent folder
            raise BackendNotReady(
                f"backend {self.name!r}: cannot import sam2 ({one_line(exc)}); reinstall it with pip install -U sam2"
            ) from exc
        from segkit_torch import compile as torch_compile
        from segkit_torch import runtime

        self.device = runtime.resolve_device(self.options.device)
        if self.options.compile:
            torch_compile.require_cuda(self.device, "sam2.compile")
        self.dtype = runtime.resolve_dtype(self.options.dtype, self.device)
        self.tf32 = runtime.enable_tf32(self.device)
        overrides = [f"++model.image_size={self.options.image_size}"] if self.options.image_size else []
        try:
            model = build_sam2(self.model.config, str(self.checkpoint), device=str(self.device), hydra_overrides_extra=overrides)
        except MissingConfigException as exc:
            raise BackendNotReady(
                f"backend {self.name!r}: sam2 has no config {self.model.config!r} ({exception_text(exc)}); sam2 looks configs up"
                f" by name inside its package (sam2 {package_version('sam2')}): upgrade it with pip install -U 'sam2>=1.1',"
                " and if your program initialises hydra itself, sam2's configs are not on its search path"
            ) from exc
        except torch.OutOfMemoryError as exc:
            raise BackendFatalError(f"backend {self.name!r}: out of memory on {self.device} while loading {self.checkpoint}; try a smaller model or device=cpu") from exc
        except Exception as exc:  # torch's strict load, a bad file: tell what the file really holds
            raise BackendFatalError(mismatch_message(self.model, self.name, self.checkpoint, exc)) from exc
        with warnings.catch_warnings():  # sam2's transforms call torch.jit.script, which torch 2.9+ deprecates
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
            predictor = SAM2ImagePredictor(model, mask_threshold=self.options.mask_threshold)
        if model.image_size != OFFICIAL_IMAGE_SIZE:
            # SAM2ImagePredictor hard-codes the feature-map sizes of a 1024 input; derive them from the model.
            predictor._bb_feat_sizes = feature_sizes(model.image_size)
        self.predictor = predictor
        if self.options.compile:
            torch_compile.compile_forward(model.image_encoder, self.device, "sam2.compile")
            self._warm_up()

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        self._require_loaded()
        if self.options.compile:  # the compiled encoder knows one batch shape; a lone image is a short batch
            return self.segment_batch([image], [boxes])[0]
        from segkit_torch import runtime

        try:
            with runtime.inference_context(self.device, self.dtype):
                self.predictor.set_image(writeable(image))
                masks, scores, _ = self.predictor.predict(box=boxes, multimask_output=self.options.multimask_output)
        finally:
            self.predictor.reset_predictor()  # drop this image's features
        return best_per_box(masks, scores, len(boxes))

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        """Up to ``batch_size`` images per encoder pass (``set_image_batch``), then each image's boxes in one
        decoder call (``predict_batch``). With ``compile`` a short batch is padded to ``batch_size``."""
        self._require_loaded()
        results: list[Segmentation] = []
        for start in range(0, len(images), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            results += self._encode_and_decode(list(images[chunk]), list(boxes[chunk]))
        return results

    def _encode_and_decode(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        from segkit_torch import runtime
        from segkit_torch.compile import fixed_batch

        count = len(images)
        batch = [writeable(image) for image in images]
        if self.options.compile:
            batch, boxes = fixed_batch(batch, self.batch_size), fixed_batch(boxes, self.batch_size)
        try:
            with runtime.inference_context(self.device, self.dtype):
                self.predictor.set_image_batch(batch)
                masks, scores, _ = self.predictor.predict_batch(box_batch=boxes, multimask_output=self.options.multimask_output)
        finally:
            self.predictor.reset_predictor()  # drop the batch's features
        return [best_per_box(masks[i], scores[i], len(boxes[i])) for i in range(count)]

    def _warm_up(self) -> None:
        """One batch through the freshly compiled encoder, so that compiling is part of loading, not of the
        first images (the encoder's input is always batch_size x 3 x image_size x image_size)."""
        image = np.zeros((64, 64, 3), np.uint8)
        box = np.array([[8, 8, 56, 56]], np.float32)
        self._encode_and_decode([image], [box])

    def _require_loaded(self) -> None:
        if self.predictor is None:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segment()")

    def settings(self) -> dict[str, Any]:
        loaded = self.predictor is not None
        image_size = self.predictor.model.image_size if loaded else (self.options.image_size or OFFICIAL_IMAGE_SIZE)
        return {
            "implementation": f"sam2 {package_version('sam2')} (Meta, SAM2ImagePredictor)",
            "model": f"SAM {self.model.version} hiera {self.model.label}",
            "config": self.model.config,
            "checkpoint": self.checkpoint.name,
            "device": str(self.device) if loaded else self.options.device,
            "dtype": str(self.dtype).removeprefix("torch.") if loaded else self.options.dtype,
            "tf32": self.tf32,
            "multimask_output": self.options.multimask_output,
            "mask_threshold": self.options.mask_threshold,
            "image_size": image_size,
            "resize": f"stretch to {image_size}x{image_size} (aspect ratio not kept)",
            "batch_size": self.batch_size,
            "compile": self.options.compile,
        }

    def close(self) -> None:
        if self.predictor is None:
            return
        self.predictor = None
        from segkit_torch import runtime

        runtime.release(self.device)


def writeable(image: np.ndarray) -> np.ndarray:
    """sam2's ToTensor warns about read-only arrays (segkit's decoded images are); a copy costs ~1 ms."""
    return image if image.flags.writeable else image.copy()


def best_per_box(masks: np.ndarray, scores: np.ndarray, n_boxes: int) -> Segmentation:
    """One bool mask and score per box from one image's output of ``predict`` or ``predict_batch``.

    Both drop the box axis when there is one box ((C, H, W) and (C,) instead of (N, C, H, W) and (N, C));
    this is the one place that puts it back. With C > 1 (multimask) the best-scoring mask is kept.
    """
    masks = masks.reshape(n_boxes, -1, *masks.shape[-2:])
    scores = np.asarray(scores, dtype=np.float64).reshape(n_boxes, -1)
    best = scores.argmax(axis=1)
    rows = np.arange(n_boxes)
    return Segmentation(masks=masks[rows, best] > 0.5, scores=scores[rows, best])


def feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """Backbone feature-map sizes SAM2ImagePredictor reshapes to: strides 4, 8 and 16."""
    return [(image_size // s, image_size // s) for s in (4, 8, 16)]


def config_problem(spec: Any, config: str) -> str | None:
    """Whether the installed sam2 package holds ``config`` (hydra finds configs by name inside it)."""
    roots = [Path(p) for p in (spec.submodule_search_locations or [])]
    candidates = [config, config + ".yaml"] if not config.endswith(".yaml") else [config]
    if any((root / c).is_file() for root in roots for c in candidates):
        return None
    hint = "; it is a name inside the sam2 package, not a file path" if Path(config).is_absolute() or Path(config).exists() else ""
    return (
        f"the installed sam2 {package_version('sam2')} has no config {config!r}{hint}"
        " (SAM 2.1 configs came with sam2 1.1); upgrade it with pip install -U 'sam2>=1.1'"
    )


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"
