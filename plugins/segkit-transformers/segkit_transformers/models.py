"""The five models: backend name, Hugging Face Hub repository, local folder, and what their config says.

The Hub repositories hold transformers' weights next to Meta's own checkpoint (``*.pt``), with the video
model's config (``sam2_video``, ``sam3_video``); the image classes load from them and ignore what they
do not need.
"""

from __future__ import annotations

from dataclasses import dataclass

from segkit_torch.models import ModelFile, by_key

HUB = "https://huggingface.co/"
FACEBOOK = HUB + "facebook/"


@dataclass(frozen=True)
class Family:
    """What transformers calls one model family, and which config types a folder of it may hold."""

    name: str  # "SAM 2.1", "SAM 3"
    model_class: str  # in the transformers package
    processor_class: str
    model_types: tuple[str, ...]  # config.json "model_type" values the model class loads from


SAM2 = Family("SAM 2.1", "Sam2Model", "Sam2Processor", ("sam2", "sam2_video"))
SAM3 = Family("SAM 3", "Sam3TrackerModel", "Sam3TrackerProcessor", ("sam3_video", "sam3_tracker", "sam3_tracker_video"))


@dataclass(frozen=True, kw_only=True)
class HfModel(ModelFile):
    """``key`` is tiny, small, base_plus, large or sam3 (the suffix of the folder_<key> option); ``file`` the
    folder's default name under the model_dir option: the Hub repository's name."""

    family: Family
    hiera: str | None = None  # SAM 2.1's trunk size, as segkit_torch.checkpoints names it
    gated: bool = False  # the Hub asks users to accept the model's licence before downloading

    @property
    def hub_id(self) -> str:
        return self.url.removeprefix(HUB)

    @property
    def label(self) -> str:
        return f"{self.family.name} hiera {self.key.replace('base_plus', 'b+')}" if self.hiera else self.family.name

    @property
    def description(self) -> str:
        return f"{self.label} through Hugging Face transformers ({self.hub_id})"


MODELS: dict[str, HfModel] = by_key(
    HfModel("tiny", "hf-sam2.1-tiny", "sam2.1-hiera-tiny", FACEBOOK, family=SAM2, hiera="tiny"),
    HfModel("small", "hf-sam2.1-small", "sam2.1-hiera-small", FACEBOOK, family=SAM2, hiera="small"),
    HfModel("base_plus", "hf-sam2.1-base-plus", "sam2.1-hiera-base-plus", FACEBOOK, family=SAM2, hiera="base_plus"),
    HfModel("large", "hf-sam2.1-large", "sam2.1-hiera-large", FACEBOOK, family=SAM2, hiera="large"),
    HfModel("sam3", "hf-sam3", "sam3", FACEBOOK, family=SAM3, gated=True),
)
