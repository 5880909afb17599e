"""The Ultralytics backends' shared part, and the ultralytics-sam2.1-* backends.

Loaded once per run through ``ultralytics.SAM`` (which builds the architecture its weight file's name
says) and its own predictor; each image is encoded once (``set_image``) and all of its boxes are decoded
in one ``inference_features`` call, which returns one mask per prompt with no ``conf`` filter, mapped back
to the boxes by prompt index. The engine (readiness, device, batches, errors) is segkit-torch's
``TorchSegmenter``; Ultralytics' own traps (BGR input, file names, thread count, offline mode) are here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from segkit import Segmentation
from segkit_torch import CheckpointError, DeviceOptions, TorchSegmenter, package_version
from segkit_torch.options import model_file_options
from segkit_ultralytics.models import MODELS, UltralyticsModel


def keep_ultralytics_offline() -> None:
    """Before the first ``import ultralytics``: no DNS probe, no telemetry, no pip auto-install (the user can
    still set YOLO_OFFLINE=0). segkit never downloads weights, and Ultralytics does all three when online."""
    os.environ.setdefault("YOLO_OFFLINE", "1")


@model_file_options(MODELS, "weights_{key}", folder="weights_dir", kind="weight file (its name must end in the official one)")
class UltralyticsOptions(DeviceOptions):
    """Options of every ultralytics-sam2.1-* backend: `options.ultralytics`, SEGKIT_ULTRALYTICS_<FIELD>, -O;
    weights_t, _s, _b, _l name one model's own file."""

    weights_dir: Path = Field(Path("checkpoints"), description="folder holding sam2.1_t.pt, sam2.1_s.pt, sam2.1_b.pt, sam2.1_l.pt")
    imgsz: int = Field(1024, ge=64, description="letterbox size of the model input (Ultralytics' default 1024)")
    half: bool | None = Field(None, description="FP16 inference; default: on with CUDA, off elsewhere (Ultralytics never uses it on CPU)")

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32 (the model's stride)")
        return value


class UltralyticsSegmenter(TorchSegmenter):
    """What the SAM 2 and SAM 3 backends share: an Ultralytics predictor, prompted with all of an image's
    boxes in one ``inference_features`` call. A subclass says where its file is, which names build the
    right model (``name_problem``) and what Ultralytics must build (``family``)."""

    package = "ultralytics"
    held = ("predictor",)
    checkpoint_label = "weights"
    family = "SAM 2"  # what Ultralytics must build from the file (SAM(file).is_sam2 / .is_sam3)
    half = False

    def name_problem(self) -> str | None:
        """Why Ultralytics would build another model from this file's name; else None."""
        raise NotImplementedError

    def check_contents(self) -> None:
        """Raise CheckpointError when the file holds other weights that Ultralytics would load anyway."""

    weights = TorchSegmenter.checkpoint  # Ultralytics' word for it

    def readiness_problem(self) -> str | None:
        return (self.checkpoint.is_file() and self.name_problem()) or super().readiness_problem()

    def build(self) -> None:
        keep_ultralytics_offline()
        import torch
        from ultralytics import SAM

        self.check_contents()
        self.half = self.options.half if self.options.half is not None else self.device.type == "cuda"
        threads = torch.get_num_threads()
        try:
            sam = SAM(str(self.weights))  # the file name picks the model (and SAM 2.1's size); checked for readiness
            if not (sam.is_sam3 if self.family == "SAM 3" else sam.is_sam2):
                raise CheckpointError(f"backend {self.name!r}: Ultralytics did not take {self.weights} for a {self.family} model")
            predictor = sam.task_map["segment"]["predictor"](
                overrides={
                    "model": str(self.weights),
                    "imgsz": self.options.imgsz,
                    "device": str(self.device.index) if self.device.type == "cuda" else self.device.type,
                    "quantize": 16 if self.half else None,
                    "conf": 0.0,  # inference_features keeps every mask anyway; Results would drop scores <= conf
                    "verbose": False,
                    "save": False,
                }
            )
            predictor.setup_model(model=sam.model, verbose=False)
        finally:
            torch.set_num_threads(threads)  # Ultralytics' select_device('cpu') sets it to cpu_count - 1 for everyone
        self.half = bool(predictor.model.fp16)
        self.predictor = predictor

    def forward(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[Segmentation]:
        results = []
        for image, image_boxes in zip(images, boxes):  # Ultralytics' SAM predictors take one image per call
            height, width = image.shape[:2]
            bgr = np.ascontiguousarray(image[..., ::-1])  # Ultralytics reads numpy images as OpenCV's BGR
            try:
                self.predictor.set_image(bgr)
                masks, rows = self.predictor.inference_features(self.predictor.features, src_shape=(height, width), bboxes=image_boxes)
            finally:
                self.predictor.reset_image()
            results.append(by_prompt(masks, rows, len(image_boxes), height, width))
        return results

    def settings(self) -> dict[str, Any]:
        imgsz = self.options.imgsz
        return {
            **super().settings(),
            "weights": self.weights.name,
            "imgsz": imgsz,
            "half": self.half,
            "dtype": "float16" if self.half else "float32",  # Ultralytics' own precision, no autocast
            "resize": f"letterbox to {imgsz}x{imgsz} (aspect ratio kept, padded bottom and right)",
            "multimask_output": False,
            "mask_choice": "single mask, best of 3 when it is unstable (SAM's dynamic multimask)",
            "mask_threshold": 0.0,
            "conf_filter": "none: one mask per box, low scores kept",
        }


class UltralyticsSam2Segmenter(UltralyticsSegmenter):
    """SAM 2.1 through Ultralytics: letterboxed input, one set_image per image, all boxes in one call."""

    options_key = "ultralytics"
    Options = UltralyticsOptions
    folder_option, file_option = "weights_dir", "weights_{key}"

    def __init__(self, name: str, options: UltralyticsOptions | None = None, *, size: str, **params: Any):
        super().__init__(name, options, size=size, **params)
        self.model: UltralyticsModel = MODELS[size]
        self.key, self.checkpoint_file, self.checkpoint_url = size, self.model.file, self.model.url

    def name_problem(self) -> str | None:
        """Ultralytics picks the architecture from the file name (SAM or SAM 2, 2.0 or 2.1, which size), so a
        renamed file would build another model; refuse any name that does not end in the official one."""
        if self.weights.name.endswith(self.model.file):
            return None
        return (
            f"weights {self.weights}: Ultralytics builds the model a weight file's name says, and {self.weights.name!r}"
            f" does not say SAM 2.1 {self.model.label}; name the file {self.model.file} (or anything ending in it)"
        )

    def load_failure(self, exc: Exception) -> str:  # torch's strict load, a bad file: tell what the file really holds
        from segkit_torch.checkpoints import Sam2Weights, sam2_mismatch

        what = sam2_mismatch(self.weights, self.name, Sam2Weights("2.1", self.model.hiera), exc, key_required=False)
        return f"backend {self.name!r}: weights {self.weights} {what}; use the official {self.model.file} ({self.model.url})"

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "implementation": f"ultralytics {package_version('ultralytics')} (SAM2Predictor)",
            "model": f"SAM 2.1 {self.model.label}",
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
