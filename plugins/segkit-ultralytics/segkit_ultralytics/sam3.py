"""The ultralytics-sam3 backend: SAM 3's box-prompted (interactive) head as the ``ultralytics`` package runs it.

Loaded once per run through ``ultralytics.SAM`` (which builds SAM 3 when the weight file's name says
``sam3``) and its ``SAM3Predictor``; each image is encoded once (``set_image``) and all of its boxes are
decoded in one ``inference_features`` call, one mask per prompt, no ``conf`` filter, mapped back to the
boxes by prompt index. The weights are Meta's ``sam3.pt``, the same file the ``sam3`` backend reads: keys
``detector.*`` and ``tracker.*``, which ``ultralytics.models.sam.build_sam3._load_checkpoint`` maps onto its
own model with ``strict=False``, so the file is checked first. Nothing heavy is imported until ``load``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from segkit_torch import CheckpointError, DeviceOptions, package_version
from segkit_ultralytics.backend import UltralyticsSegmenter

BACKEND = "ultralytics-sam3"
FILE = "sam3.pt"
REPO = "https://huggingface.co/facebook/sam3"
STRIDE = 14  # SAM 3's ViT patch size: the input side must be a multiple of it
NATIVE_IMGSZ = 1008  # what SAM 3 was trained at (Ultralytics' own default, 1024, becomes 1036)


class UltralyticsSam3Options(DeviceOptions):
    """Options of ultralytics-sam3: `options.ultralytics_sam3`, SEGKIT_ULTRALYTICS_SAM3_<FIELD>, -O ultralytics_sam3.<field>=VALUE."""

    weights: Path = Field(Path("checkpoints") / FILE, description="Meta's sam3.pt (its name must end in sam3.pt: Ultralytics builds what the name says)")
    imgsz: int = Field(NATIVE_IMGSZ, ge=STRIDE, description="letterbox size of the model input, a multiple of 14 (SAM 3's 1008)")
    half: bool | None = Field(None, description="FP16 inference; default: on with CUDA, off elsewhere (Ultralytics never uses it on CPU)")

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, value: int) -> int:
        if value % STRIDE:
            raise ValueError(f"must be a multiple of {STRIDE} (SAM 3's patch size), e.g. {NATIVE_IMGSZ}")
        return value


class UltralyticsSam3Segmenter(UltralyticsSegmenter):
    """SAM 3 through Ultralytics: letterboxed input, one set_image per image, all boxes in one call."""

    options_key = "ultralytics_sam3"
    Options = UltralyticsSam3Options
    family = "SAM 3"
    file_option = "weights"
    checkpoint_file = FILE

    def how_to_get(self) -> str:
        return f"request access to {REPO} and download {FILE} into checkpoints/ (`checkpoints/download.sh {self.name}` with HF_TOKEN set)"

    def name_problem(self) -> str | None:
        """Ultralytics builds SAM 3 when the file's stem contains 'sam3', but picks SAM 2's predictor first when it
        also contains 'sam2'; refuse any name that does not end in sam3.pt, or that also says sam2."""
        if self.weights.name.endswith(FILE) and "sam2" not in self.weights.stem:
            return None
        return (
            f"weights {self.weights}: Ultralytics builds the model a weight file's name says, and {self.weights.name!r}"
            f" does not say SAM 3 alone; name the file {FILE} (or anything ending in it without 'sam2')"
        )

    def check_contents(self) -> None:
        """Ultralytics loads SAM 3 with strict=False: a file without SAM 3's weights would run on random ones."""
        from segkit_torch.checkpoints import describe_weights, identify_sam3, read_state_dict

        where, fix = f"backend {self.name!r}: weights {self.weights}", f"use Meta's {FILE} ({REPO})"
        state_dict, problem = read_state_dict(self.weights, key="model", key_required=False)
        if state_dict is None:
            raise CheckpointError(f"{where} cannot be used: {problem}; {fix}")
        if identify_sam3(state_dict) is None:  # SAM 3 or SAM 3.1, both of which Ultralytics loads
            raise CheckpointError(f"{where} holds {describe_weights(state_dict)}, not SAM 3; {fix}")

    def load_failure(self, exc: Exception) -> str:  # a shape mismatch, a corrupt tensor
        from segkit_torch.checkpoints import load_error_text

        return f"backend {self.name!r}: weights {self.weights} hold SAM 3 weights but do not load: {load_error_text(exc)}"

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "implementation": f"ultralytics {package_version('ultralytics')} (SAM3Predictor, interactive)",
            "model": "SAM 3",
            "hole_filling": "none",
        }
