"""The four SAM 2.1 models: backend name, config inside the ``sam2`` package, official checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

from segkit_torch.models import ModelFile, by_key

CHECKPOINT_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


@dataclass(frozen=True, kw_only=True)
class Sam2Model(ModelFile):
    """``key`` is the size (tiny, small, base_plus, large: the suffix of the checkpoint_<size> option);
    ``file`` the official checkpoint name."""

    config: str  # a config *name* inside the sam2 package; hydra looks it up there, never on disk
    aliases: tuple[str, ...] = ()
    version: str = "2.1"

    @property
    def label(self) -> str:
        return "b+" if self.key == "base_plus" else self.key

    @property
    def description(self) -> str:
        """What `segkit backends` says of it."""
        return f"Meta SAM {self.version} hiera {self.label} ({self.file})"


MODELS: dict[str, Sam2Model] = by_key(
    Sam2Model("tiny", "sam2-tiny", "sam2.1_hiera_tiny.pt", CHECKPOINT_URL, config="configs/sam2.1/sam2.1_hiera_t.yaml"),
    Sam2Model("small", "sam2-small", "sam2.1_hiera_small.pt", CHECKPOINT_URL, config="configs/sam2.1/sam2.1_hiera_s.yaml"),
    Sam2Model("base_plus", "sam2-base-plus", "sam2.1_hiera_base_plus.pt", CHECKPOINT_URL, config="configs/sam2.1/sam2.1_hiera_b+.yaml", aliases=("sam2-b+",)),
    Sam2Model("large", "sam2-large", "sam2.1_hiera_large.pt", CHECKPOINT_URL, config="configs/sam2.1/sam2.1_hiera_l.yaml"),
)
