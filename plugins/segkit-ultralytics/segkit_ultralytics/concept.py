"""The ultralytics-sam3-concept backend: SAM 3's concept segmentation as Ultralytics runs it
(``SAM3SemanticPredictor``), on the same sam3.pt as ``ultralytics-sam3``.

Per image: ``set_image`` once (BGR, as Ultralytics reads numpy images); every concept that is a phrase alone
goes into ONE call, ``predictor(text=[phrase, ...])`` (Ultralytics' ``cls`` is the phrase's index); a concept
with exemplar boxes is its own call, ``predictor(bboxes=..., labels=..., text=phrase or None)`` (all its boxes
form one prompt; no phrase means Ultralytics' "visual"). Ultralytics keeps instances scoring above ``conf`` and
applies NMS per phrase at ``iou``; the image is stretched to ``imgsz`` (no letterbox in this predictor).

Ultralytics builds SAM 3's text encoder with ``import clip`` and calls ``clip.simple_tokenizer.SimpleTokenizer()``
as a function: that is Ultralytics' CLIP fork (git+https://github.com/ultralytics/CLIP.git), which is not on
the package registry; the registry's ``clip-anytorch`` installs an ``import clip`` whose tokenizer is not
callable (and needs setuptools < 81 for ``pkg_resources``). Readiness says so in one line.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from segkit import Concept, ConceptInstances
from segkit_torch import DeviceOptions, TorchConceptSegmenter, package_version
from segkit_ultralytics.backend import keep_ultralytics_offline
from segkit_ultralytics.sam3 import FILE, NATIVE_IMGSZ, STRIDE, UltralyticsSam3Options, UltralyticsSam3Segmenter

CLIP_FORK = "git+https://github.com/ultralytics/CLIP.git"


class UltralyticsSam3ConceptOptions(DeviceOptions):
    """Options of ultralytics-sam3-concept: `options.ultralytics_sam3_concept`, SEGKIT_ULTRALYTICS_SAM3_CONCEPT_<FIELD>, -O."""

    weights: Path = Field(Path("checkpoints") / FILE, description="Meta's sam3.pt (its name must end in sam3.pt), the file ultralytics-sam3 reads")
    imgsz: int = Field(NATIVE_IMGSZ, ge=STRIDE, description="input size (stretched, not letterboxed), a multiple of 14 (SAM 3's 1008)")
    conf: float = Field(0.5, ge=0, le=1, description="keep instances scoring above this (Ultralytics' own default is 0.25; 0.5 as Meta's Sam3Processor)")
    iou: float = Field(0.7, ge=0, le=1, description="IoU of Ultralytics' NMS among one phrase's instances (its default 0.7; 1.0 keeps all)")
    half: bool | None = Field(None, description="FP16 inference; default: on with CUDA, off elsewhere")

    _imgsz = field_validator("imgsz")(UltralyticsSam3Options._imgsz.__func__)


def clip_problem() -> str | None:
    """Why Ultralytics cannot build SAM 3's text encoder here, or None. Cheap: reads no torch."""
    module = sys.modules.get("clip")
    if module is not None:
        tokenizer = getattr(getattr(module, "simple_tokenizer", None), "SimpleTokenizer", None)
        callable_tokenizer = tokenizer is not None and "__call__" in vars(tokenizer)
    else:
        spec = importlib.util.find_spec("clip")
        if spec is None or not spec.submodule_search_locations:
            return f"Ultralytics' SAM 3 concept model needs Ultralytics' CLIP fork (`import clip`), not installed; pip install {CLIP_FORK} (not on PyPI)"
        source = Path(next(iter(spec.submodule_search_locations))) / "simple_tokenizer.py"
        callable_tokenizer = source.is_file() and "def __call__" in source.read_text(encoding="utf-8", errors="replace")
    if callable_tokenizer:
        return None
    return (f"the installed `clip` is not Ultralytics' CLIP fork (its tokenizer cannot be called as Ultralytics' SAM 3 does);"
            f" pip install {CLIP_FORK} (not on PyPI; the registry's clip-anytorch is not it)")


class UltralyticsSam3ConceptSegmenter(TorchConceptSegmenter):
    """SAM 3 concepts through Ultralytics: one set_image per image, all plain phrases in one forward."""

    options_key = "ultralytics_sam3_concept"
    Options = UltralyticsSam3ConceptOptions
    package = "ultralytics"
    held = ("predictor",)
    checkpoint_label = "weights"
    file_option = "weights"
    checkpoint_file = FILE
    max_concepts = 64
    half = False

    weights = TorchConceptSegmenter.checkpoint
    how_to_get = UltralyticsSam3Segmenter.how_to_get
    name_problem = UltralyticsSam3Segmenter.name_problem
    check_contents = UltralyticsSam3Segmenter.check_contents
    load_failure = UltralyticsSam3Segmenter.load_failure

    def readiness_problem(self) -> str | None:
        return (self.checkpoint.is_file() and self.name_problem()) or super().readiness_problem() or clip_problem()

    def build(self) -> None:
        keep_ultralytics_offline()
        import torch
        from ultralytics.models.sam.predict import SAM3SemanticPredictor

        self.check_contents()
        self.half = self.options.half if self.options.half is not None else self.device.type == "cuda"
        threads = torch.get_num_threads()
        try:
            predictor = SAM3SemanticPredictor(
                overrides={
                    "model": str(self.weights), "task": "segment", "mode": "predict", "imgsz": self.options.imgsz,
                    "device": str(self.device.index) if self.device.type == "cuda" else self.device.type,
                    "half": self.half, "conf": self.options.conf, "iou": self.options.iou, "verbose": False, "save": False,
                }
            )
            predictor.setup_model(verbose=False)
        finally:
            torch.set_num_threads(threads)  # Ultralytics' select_device('cpu') sets it to cpu_count - 1 for everyone
        self.predictor = predictor

    def forward(self, images: list[np.ndarray], concepts: list[list[Concept]]) -> list[ConceptInstances]:
        results = []
        for image, image_concepts in zip(images, concepts):  # one image per call in Ultralytics' SAM predictors
            self.predictor.set_image(np.ascontiguousarray(image[..., ::-1]))  # Ultralytics reads numpy as BGR
            try:
                results.append(self._one_image(image.shape[0], image.shape[1], image_concepts))
            finally:
                self.predictor.reset_image()
        return results

    def _one_image(self, height: int, width: int, concepts: list[Concept]) -> ConceptInstances:
        parts = []
        phrases = [index for index, concept in enumerate(concepts) if concept.text and not concept.boxes]
        if phrases:
            parts.append(instances(self.predictor(text=[concepts[i].text for i in phrases])[0], phrases))
        for index, concept in enumerate(concepts):
            if concept.boxes:
                labels = [int(p) for p in concept.positive()]
                answer = self.predictor(bboxes=concept.box_array().tolist(), labels=labels, text=concept.text or None)[0]
                parts.append(instances(answer, [index]))
        parts = [part for part in parts if part[0].shape[0]]
        if not parts:
            return ConceptInstances.empty(height, width)
        masks, scores, boxes, owners = (np.concatenate(column) for column in zip(*parts))
        return ConceptInstances(masks, scores, boxes, owners)

    def settings(self) -> dict[str, Any]:
        imgsz = self.options.imgsz
        return {
            **super().settings(),
            "implementation": f"ultralytics {package_version('ultralytics')} (SAM3SemanticPredictor: concept segmentation)",
            "model": "SAM 3",
            "weights": self.weights.name,
            "imgsz": imgsz,
            "half": self.half,
            "dtype": "float16" if self.half else "float32",  # Ultralytics' own precision, no autocast
            "resize": f"stretch to {imgsz}x{imgsz} (aspect ratio not kept)",
            "conf": self.options.conf,
            "nms": f"per phrase, IoU {self.options.iou} (Ultralytics')",
        }


def instances(result: Any, owners: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One Ultralytics ``Results`` as (masks, scores, boxes, concept indices); ``cls`` indexes ``owners``."""
    rows = result.boxes.data.detach().float().cpu().numpy() if result.boxes is not None else np.zeros((0, 6), np.float32)
    height, width = result.orig_shape
    if result.masks is None or not len(rows):
        return np.zeros((0, height, width), bool), np.zeros(0), np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    data = result.masks.data.detach().cpu()
    masks = (data if data.dtype == bool else data > 0.5).numpy().astype(bool, copy=False)
    concept = np.asarray(owners, np.int64)[rows[:, 5].astype(np.int64)]
    return masks, rows[:, 4].astype(np.float64), rows[:, :4].astype(np.float32), concept
