"""The four Ultralytics SAM 2.1 models: backend name and the weight file name that selects each."""

from __future__ import annotations

from dataclasses import dataclass

from segkit_torch.models import ModelFile, by_key

ASSETS_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"


@dataclass(frozen=True, kw_only=True)
class UltralyticsModel(ModelFile):
    """``key`` is the size letter (t, s, b, l: the suffix of the weights_<size> option); ``file`` the official
    name, from which Ultralytics builds the architecture."""

    label: str  # Meta's name for the size
    hiera: str  # the size as segkit_torch.checkpoints.identify_sam2 names it

    @property
    def description(self) -> str:
        return f"SAM 2.1 {self.label} through Ultralytics ({self.file})"


MODELS: dict[str, UltralyticsModel] = by_key(
    UltralyticsModel("t", "ultralytics-sam2.1-t", "sam2.1_t.pt", ASSETS_URL, label="tiny", hiera="tiny"),
    UltralyticsModel("s", "ultralytics-sam2.1-s", "sam2.1_s.pt", ASSETS_URL, label="small", hiera="small"),
    UltralyticsModel("b", "ultralytics-sam2.1-b", "sam2.1_b.pt", ASSETS_URL, label="b+", hiera="base_plus"),
    UltralyticsModel("l", "ultralytics-sam2.1-l", "sam2.1_l.pt", ASSETS_URL, label="large", hiera="large"),
)
