"""The four SAM 2.1 models: backend name, config inside the ``sam2`` package, official checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

CHECKPOINT_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


@dataclass(frozen=True)
class Sam2Model:
    size: str  # tiny, small, base_plus, large: also the suffix of the checkpoint_<size> option
    backend: str
    config: str  # a config *name* inside the sam2 package; hydra looks it up there, never on disk
    checkpoint: str  # the official file name
    aliases: tuple[str, ...] = ()
    version: str = "2.1"

    @property
    def url(self) -> str:
        return CHECKPOINT_URL + self.checkpoint

    @property
    def label(self) -> str:
        return "b+" if self.size == "base_plus" else self.size


MODELS: dict[str, Sam2Model] = {
    m.size: m
    for m in (
        Sam2Model("tiny", "sam2-tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt"),
        Sam2Model("small", "sam2-small", "configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt"),
        Sam2Model("base_plus", "sam2-base-plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt", ("sam2-b+",)),
        Sam2Model("large", "sam2-large", "configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt"),
    )
}
