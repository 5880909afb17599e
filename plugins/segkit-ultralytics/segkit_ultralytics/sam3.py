"""The ultralytics-sam3 backend: SAM 3's box-prompted (interactive) head as the ``ultralytics`` package runs it.

Loaded once per run through ``ultralytics.SAM`` (which builds SAM 3 when the weight file's name says
``sam3``) and its ``SAM3Predictor``; each image is encoded once (``set_image``) and all of its boxes are
decoded in one ``inference_features`` call, one mask per prompt, no ``conf`` filter, mapped back to the
boxes by prompt index. The weights are Meta's ``sam3.pt``, the same file the ``sam3`` backend reads.
Nothing heavy is imported until ``load``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit.errors import exception_text
from segkit_torch.options import DEVICE_HELP, check_device
from segkit_ultralytics.backend import UltralyticsPredictorSegmenter, package_version
from segkit_ultralytics.sam3_weights import FILE, mismatch_message, missing_message

BACKEND = "ultralytics-sam3"
STRIDE = 14  # SAM 3's ViT patch size: the input side must be a multiple of it
NATIVE_IMGSZ = 1008  # what SAM 3 was trained at (Ultralytics' own default, 1024, becomes 1036)


class UltralyticsSam3Options(BaseModel):
    """Options of ultralytics-sam3: `options.ultralytics_sam3`, SEGKIT_ULTRALYTICS_SAM3_<FIELD>, -O ultralytics_sam3.<field>=VALUE."""

    model_config = ConfigDict(extra="forbid")

    weights: Path = Field(Path("checkpoints") / FILE, description="Meta's sam3.pt (its name must end in sam3.pt: Ultralytics builds what the name says)")
    imgsz: int = Field(NATIVE_IMGSZ, ge=STRIDE, description="letterbox size of the model input, a multiple of 14 (SAM 3's 1008)")
    device: str = Field("auto", description=DEVICE_HELP)
    half: bool | None = Field(None, description="FP16 inference; default: on with CUDA, off elsewhere (Ultralytics never uses it on CPU)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, value: int) -> int:
        if value % STRIDE:
            raise ValueError(f"must be a multiple of {STRIDE} (SAM 3's patch size), e.g. {NATIVE_IMGSZ}")
        return value


class UltralyticsSam3Segmenter(UltralyticsPredictorSegmenter):
    """SAM 3 through Ultralytics: letterboxed input, one set_image per image, all boxes in one call."""

    options_key = "ultralytics_sam3"
    Options = UltralyticsSam3Options
    family = "SAM 3"
    oom_hint = "device=cpu"

    def __init__(self, name: str, options: UltralyticsSam3Options | None = None, **params: Any):
        super().__init__(name, options, **params)
        self.predictor: Any = None
        self.device: Any = None
        self.half = False

    @property
    def weights(self) -> Path:
        return Path(self.options.weights)

    def weights_missing(self) -> str | None:
        return missing_message(self.weights)

    def weights_mismatch(self) -> str | None:
        # Ultralytics loads SAM 3 with strict=False: a file without SAM 3's weights would run on random ones.
        return mismatch_message(self.name, self.weights)

    def load_failure(self, exc: Exception) -> str:  # a shape mismatch, a corrupt tensor
        return f"backend {self.name!r}: weights {self.weights} hold SAM 3 weights but do not load: {exception_text(exc)}"

    def settings(self) -> dict[str, Any]:
        imgsz = self.options.imgsz
        return {
            "implementation": f"ultralytics {package_version('ultralytics')} (SAM3Predictor, interactive)",
            "model": "SAM 3",
            "weights": self.weights.name,
            "imgsz": imgsz,
            "device": str(self.device) if self.device is not None else self.options.device,
            "half": self.half,
            "resize": f"letterbox to {imgsz}x{imgsz} (aspect ratio kept, padded bottom and right)",
            "multimask_output": False,
            "mask_choice": "single mask, best of 3 when it is unstable (SAM's dynamic multimask)",
            "mask_threshold": 0.0,
            "hole_filling": "none",
            "conf_filter": "none: one mask per box, low scores kept",
        }

