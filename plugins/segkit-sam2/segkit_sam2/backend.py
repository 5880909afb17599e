"""The sam2-* backends: Meta's SAM 2.1 through ``SAM2ImagePredictor``.

Built once per run (``load``); each image is encoded once (``set_image``) and all of its boxes go to one
``predict`` call. Nothing heavy is imported until ``load``: `segkit backends` only looks for files.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit import BackendFatalError, Readiness, Segmentation, Segmenter
from segkit.errors import BackendNotReady, exception_text, one_line
from segkit_sam2.checkpoints import mismatch_message, missing_message
from segkit_sam2.models import MODELS, Sam2Model

DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
OFFICIAL_IMAGE_SIZE = 1024


class Sam2Options(BaseModel):
    """Options of every sam2-* backend: config `options.sam2`, SEGKIT_SAM2_<FIELD>, -O sam2.<field>=VALUE."""

    model_config = ConfigDict(extra="forbid")

    checkpoint_dir: Path = Field(Path("checkpoints"), description="folder holding the official sam2.1_hiera_*.pt files")
    checkpoint_tiny: Path | None = Field(None, description="sam2-tiny's checkpoint file (default: checkpoint_dir/sam2.1_hiera_tiny.pt)")
    checkpoint_small: Path | None = Field(None, description="sam2-small's checkpoint file")
    checkpoint_base_plus: Path | None = Field(None, description="sam2-base-plus's checkpoint file")
    checkpoint_large: Path | None = Field(None, description="sam2-large's checkpoint file")
    device: str = Field("auto", description="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="compute precision; auto is bfloat16 autocast on CUDA and float32 elsewhere"
    )
    multimask_output: bool = Field(False, description="ask for 3 masks per box and keep the best-scoring one")
    mask_threshold: float = Field(0.0, description="logit threshold of the masks (sam2's default 0.0)")
    image_size: int | None = Field(
        None, ge=64, description="model input size (default: the config's 1024, which the weights were trained at)"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        if not DEVICE.match(value):
            raise ValueError("use auto, cpu, cuda, cuda:N or mps")
        return value

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
        from segkit_sam2 import runtime

        self.device = runtime.resolve_device(self.options.device)
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

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        if self.predictor is None:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segment()")
        from segkit_sam2 import runtime

        if not image.flags.writeable:  # sam2's ToTensor warns about read-only arrays; a copy costs ~1 ms
            image = image.copy()
        try:
            with runtime.inference_context(self.device, self.dtype):
                self.predictor.set_image(image)
                masks, scores, _ = self.predictor.predict(box=boxes, multimask_output=self.options.multimask_output)
        finally:
            self.predictor.reset_predictor()  # drop this image's features
        return best_per_box(masks, scores, len(boxes))

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
        }

    def close(self) -> None:
        if self.predictor is None:
            return
        self.predictor = None
        gc.collect()
        from segkit_sam2 import runtime

        runtime.release(self.device)


def best_per_box(masks: np.ndarray, scores: np.ndarray, n_boxes: int) -> Segmentation:
    """One bool mask and score per box from ``predict``'s output.

    ``predict`` drops the box axis when there is one box ((C, H, W) and (C,) instead of (N, C, H, W) and
    (N, C)); this is the one place that puts it back. With C > 1 (multimask) the best-scoring mask is kept.
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
