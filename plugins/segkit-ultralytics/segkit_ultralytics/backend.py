"""The ultralytics-sam2.1-* backends: SAM 2.1 as the ``ultralytics`` package runs it.

Loaded once per run through ``ultralytics.SAM`` (which builds the architecture its weight file name says)
and its ``SAM2Predictor``; each image is encoded once (``set_image``) and all of its boxes are decoded in
one ``inference_features`` call, which returns one mask per prompt with no ``conf`` filter, mapped back
to the boxes by prompt index. Nothing heavy is imported until ``load``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit import BackendFatalError, Readiness, Segmentation, Segmenter
from segkit.errors import BackendNotReady, exception_text
from segkit_torch.options import DEVICE_HELP, check_device
from segkit_ultralytics.models import MODELS, UltralyticsModel
from segkit_ultralytics.weights import mismatch_message, missing_message


def keep_ultralytics_offline() -> None:
    """Before the first ``import ultralytics``: no DNS probe, no telemetry, no pip auto-install (the user can
    still set YOLO_OFFLINE=0). segkit never downloads weights, and Ultralytics does all three when online."""
    os.environ.setdefault("YOLO_OFFLINE", "1")


class UltralyticsOptions(BaseModel):
    """Options of every ultralytics-sam2.1-* backend: `options.ultralytics`, SEGKIT_ULTRALYTICS_<FIELD>, -O."""

    model_config = ConfigDict(extra="forbid")

    weights_dir: Path = Field(Path("checkpoints"), description="folder holding sam2.1_t.pt, sam2.1_s.pt, sam2.1_b.pt, sam2.1_l.pt")
    weights_t: Path | None = Field(None, description="ultralytics-sam2.1-t's weight file (its name must end in sam2.1_t.pt)")
    weights_s: Path | None = Field(None, description="ultralytics-sam2.1-s's weight file")
    weights_b: Path | None = Field(None, description="ultralytics-sam2.1-b's weight file")
    weights_l: Path | None = Field(None, description="ultralytics-sam2.1-l's weight file")
    imgsz: int = Field(1024, ge=64, description="letterbox size of the model input (Ultralytics' default 1024)")
    device: str = Field("auto", description=DEVICE_HELP)
    half: bool | None = Field(None, description="FP16 inference; default: on with CUDA, off elsewhere (Ultralytics never uses it on CPU)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32 (the model's stride)")
        return value


class UltralyticsPredictorSegmenter(Segmenter):
    """What the SAM 2 and SAM 3 backends share: an Ultralytics predictor, prompted with all of an image's
    boxes in one ``inference_features`` call (which applies no ``conf`` filter). A subclass sets
    ``weights`` and ``options`` (``device``, ``half``, ``imgsz``) and says how its weight file is checked."""

    predictor: Any = None
    device: Any = None
    half = False

    family = "SAM 2"  # what Ultralytics must build from the file (SAM(file).is_sam2 / .is_sam3)
    oom_hint = "a smaller model or device=cpu"

    def weights_missing(self) -> str | None:
        """Why the weight file cannot be used, before Ultralytics sees it (it would download one); else None."""
        raise NotImplementedError

    def weights_mismatch(self) -> str | None:
        """Why the file holds other weights, where Ultralytics would load it anyway; else None."""
        return None

    def load_failure(self, exc: Exception) -> str:
        raise NotImplementedError

    def check_ready(self) -> Readiness:
        if importlib.util.find_spec("ultralytics") is None:
            return Readiness.missing("the ultralytics package is not installed; pip install ultralytics")
        problem = self.weights_missing()
        if problem:
            return Readiness.missing(problem)
        return Readiness.ok(f"{self.weights} ({self.weights.stat().st_size / 1e6:.0f} MB), ultralytics {package_version('ultralytics')}")

    def load(self) -> None:
        readiness = self.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {self.name!r} is not ready: {readiness.reason}")
        keep_ultralytics_offline()
        try:
            import torch
            from ultralytics import SAM
        except ImportError as exc:
            raise BackendNotReady(
                f"backend {self.name!r}: cannot import ultralytics ({exception_text(exc)}); reinstall it with pip install -U ultralytics"
            ) from exc
        problem = self.weights_mismatch()
        if problem:
            raise BackendFatalError(problem)
        from segkit_torch import runtime

        self.device = runtime.resolve_device(self.options.device)
        self.half = self.options.half if self.options.half is not None else self.device.type == "cuda"
        runtime.enable_tf32(self.device)
        threads = torch.get_num_threads()
        try:
            sam = SAM(str(self.weights))  # the file name picks the model (and SAM 2.1's size); checked in check_ready
            if not (sam.is_sam3 if self.family == "SAM 3" else sam.is_sam2):
                raise BackendFatalError(f"backend {self.name!r}: Ultralytics did not take {self.weights} for a {self.family} model")
            predictor = self.make_predictor(sam)
        except (BackendFatalError, BackendNotReady):
            raise
        except torch.OutOfMemoryError as exc:
            raise BackendFatalError(f"backend {self.name!r}: out of memory on {self.device} while loading {self.weights}; try {self.oom_hint}") from exc
        except Exception as exc:
            raise BackendFatalError(self.load_failure(exc)) from exc
        finally:
            torch.set_num_threads(threads)  # Ultralytics' select_device('cpu') sets it to cpu_count - 1 for everyone
        self.half = bool(predictor.model.fp16)
        self.predictor = predictor

    def make_predictor(self, sam: Any) -> Any:
        """``sam``'s own predictor, set up on this backend's device, size and precision."""
        predictor = sam.task_map["segment"]["predictor"](
            overrides={
                "model": str(self.weights),
                "imgsz": self.options.imgsz,
                "device": ultralytics_device(self.device),
                "quantize": 16 if self.half else None,
                "conf": 0.0,  # inference_features keeps every mask anyway; Results would drop scores <= conf
                "verbose": False,
                "save": False,
            }
        )
        predictor.setup_model(model=sam.model, verbose=False)
        return predictor

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        if self.predictor is None:
            raise BackendFatalError(f"backend {self.name!r} was not loaded; call load() before segment()")
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])  # Ultralytics reads numpy images as OpenCV's BGR
        try:
            self.predictor.set_image(bgr)
            masks, rows = self.predictor.inference_features(self.predictor.features, src_shape=(height, width), bboxes=boxes)
        finally:
            self.predictor.reset_image()
        return by_prompt(masks, rows, len(boxes), height, width)

    def close(self) -> None:
        if self.predictor is None:
            return
        self.predictor = None
        from segkit_torch import runtime

        runtime.release(self.device)


class UltralyticsSam2Segmenter(UltralyticsPredictorSegmenter):
    """SAM 2.1 through Ultralytics: letterboxed input, one set_image per image, all boxes in one call."""

    options_key = "ultralytics"
    Options = UltralyticsOptions

    def __init__(self, name: str, options: UltralyticsOptions | None = None, *, size: str, **params: Any):
        super().__init__(name, options, size=size, **params)
        self.model: UltralyticsModel = MODELS[size]
        self.predictor: Any = None
        self.device: Any = None
        self.half = False

    @property
    def weights_option(self) -> str:
        return f"weights_{self.model.size}"

    @property
    def weights(self) -> Path:
        explicit = getattr(self.options, self.weights_option)
        return Path(explicit) if explicit is not None else Path(self.options.weights_dir) / self.model.weights

    def weights_missing(self) -> str | None:
        return missing_message(self.model, self.weights, self.weights_option)

    def load_failure(self, exc: Exception) -> str:  # torch's strict load, a bad file: tell what the file really holds
        return mismatch_message(self.model, self.name, self.weights, exc)

    def settings(self) -> dict[str, Any]:
        imgsz = self.options.imgsz
        return {
            "implementation": f"ultralytics {package_version('ultralytics')} (SAM2Predictor)",
            "model": f"SAM 2.1 {self.model.label}",
            "weights": self.weights.name,
            "imgsz": imgsz,
            "device": str(self.device) if self.device is not None else self.options.device,
            "half": self.half,
            "resize": f"letterbox to {imgsz}x{imgsz} (aspect ratio kept, padded bottom and right)",
            "multimask_output": False,
            "mask_threshold": 0.0,
            "conf_filter": "none: one mask per box, low scores kept",
        }



def by_prompt(masks: Any, rows: Any, n_boxes: int, height: int, width: int) -> Segmentation:
    """One mask and score per box from Ultralytics' answer: ``masks`` (M, H, W) bool or None and ``rows``
    (M, 6) = box xyxy, score, prompt index. Ultralytics' Results drop masks scoring <= ``conf`` (M < N):
    a box with no mask gets an empty mask and score 0, at its own index."""
    out_masks = np.zeros((n_boxes, height, width), dtype=bool)
    out_scores = np.zeros(n_boxes, dtype=np.float64)
    if masks is None or len(rows) == 0:
        return Segmentation(out_masks, out_scores)
    rows = rows.detach().float().cpu().numpy()
    index = rows[:, 5].astype(np.int64)
    out_masks[index] = masks.detach().cpu().numpy().astype(bool, copy=False)
    out_scores[index] = rows[:, 4]
    return Segmentation(out_masks, out_scores)


def ultralytics_device(device: Any) -> str:
    """Ultralytics' spelling: 'cpu', 'mps' or a CUDA index."""
    return str(device.index) if device.type == "cuda" else device.type


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"
