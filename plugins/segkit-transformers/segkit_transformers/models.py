"""The five models: backend name, Hugging Face Hub repository, local folder, and what their config says.

The Hub repositories hold transformers' weights next to Meta's own checkpoint (``*.pt``), with the video
model's config (``sam2_video``, ``sam3_video``); the image classes load from them and ignore what they
do not need.
"""

from __future__ import annotations

from dataclasses import dataclass

HUB = "https://huggingface.co/"


@dataclass(frozen=True)
class Family:
    """What transformers calls one model family, and which config types a folder of it may hold."""

    name: str  # "SAM 2.1", "SAM 3"
    model_class: str  # in the transformers package
    processor_class: str
    model_types: tuple[str, ...]  # config.json "model_type" values the model class loads from


SAM2 = Family("SAM 2.1", "Sam2Model", "Sam2Processor", ("sam2", "sam2_video"))
SAM3 = Family("SAM 3", "Sam3TrackerModel", "Sam3TrackerProcessor", ("sam3_video", "sam3_tracker", "sam3_tracker_video"))


@dataclass(frozen=True)
class HfModel:
    key: str  # tiny, small, base_plus, large, sam3: also the suffix of the folder_<key> option
    backend: str
    family: Family
    hub_id: str
    hiera: str | None = None  # SAM 2.1's trunk size, as segkit_torch.checkpoints names it
    gated: bool = False  # the Hub asks users to accept the model's licence before downloading

    @property
    def folder(self) -> str:
        """The folder's default name under the model_dir option: the repository's name."""
        return self.hub_id.split("/", 1)[1]

    @property
    def label(self) -> str:
        return f"{self.family.name} hiera {self.key.replace('base_plus', 'b+')}" if self.hiera else self.family.name

    @property
    def url(self) -> str:
        return HUB + self.hub_id


MODELS: dict[str, HfModel] = {
    m.key: m
    for m in (
        HfModel("tiny", "hf-sam2.1-tiny", SAM2, "facebook/sam2.1-hiera-tiny", hiera="tiny"),
        HfModel("small", "hf-sam2.1-small", SAM2, "facebook/sam2.1-hiera-small", hiera="small"),
        HfModel("base_plus", "hf-sam2.1-base-plus", SAM2, "facebook/sam2.1-hiera-base-plus", hiera="base_plus"),
        HfModel("large", "hf-sam2.1-large", SAM2, "facebook/sam2.1-hiera-large", hiera="large"),
        HfModel("sam3", "hf-sam3", SAM3, "facebook/sam3", gated=True),
    )
}
