"""The four Ultralytics SAM 2.1 models: backend name and the weight file name that selects each."""

from __future__ import annotations

from dataclasses import dataclass

ASSETS_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"


@dataclass(frozen=True)
class UltralyticsModel:
    size: str  # t, s, b, l: also the suffix of the weights_<size> option
    backend: str
    weights: str  # the official file name; Ultralytics builds the architecture this name says
    label: str  # Meta's name for the size
    hiera: str  # the size as segkit_torch.checkpoints.identify_sam2 names it

    @property
    def url(self) -> str:
        return ASSETS_URL + self.weights


MODELS: dict[str, UltralyticsModel] = {
    m.size: m
    for m in (
        UltralyticsModel("t", "ultralytics-sam2.1-t", "sam2.1_t.pt", "tiny", "tiny"),
        UltralyticsModel("s", "ultralytics-sam2.1-s", "sam2.1_s.pt", "small", "small"),
        UltralyticsModel("b", "ultralytics-sam2.1-b", "sam2.1_b.pt", "b+", "base_plus"),
        UltralyticsModel("l", "ultralytics-sam2.1-l", "sam2.1_l.pt", "large", "large"),
    )
}
