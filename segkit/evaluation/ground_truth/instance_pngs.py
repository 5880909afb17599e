"""A folder of instance mask PNGs as ground truth, found by image stem. Per image, either

* ``<stem>_<k>.png``: one PNG per instance (any non-zero pixel belongs to it), instance id ``k``; or
* ``<stem>.png``: one single-channel PNG whose pixel values are instance ids (0 is background).

Instances have no category, so matching is class-agnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import (
    GroundTruthProblem,
    GtImage,
    GtInstance,
    check_size,
    read_id_png,
)

INSTANCE_FILE = re.compile(r"^(?P<stem>.+)_(?P<k>\d+)$")


@dataclass
class InstancePngGroundTruth:
    path: Path
    indexed: dict[str, Path] = field(default_factory=dict)  # stem -> <stem>.png
    per_instance: dict[str, dict[int, Path]] = field(default_factory=dict)  # stem -> k -> <stem>_<k>.png
    format: str = "instance-pngs"
    categories: list[str] | None = None

    @classmethod
    def open(cls, path: Path) -> "InstancePngGroundTruth":
        found = cls(path)
        pngs = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith("."))
        if not pngs:
            raise InputError(f"ground truth folder {path} holds no PNG files; pass a folder of <stem>_<k>.png or <stem>.png masks, or a COCO JSON file")
        for png in pngs:
            found.indexed[png.stem] = png
            match = INSTANCE_FILE.match(png.stem)
            if match:
                found.per_instance.setdefault(match["stem"], {})[int(match["k"])] = png
        return found

    def has(self, image_name: str) -> bool:
        stem = PurePosixPath(image_name).stem
        return stem in self.per_instance or stem in self.indexed

    def image_count(self) -> int:
        instance_files = {png.stem for files in self.per_instance.values() for png in files.values()}
        return len(set(self.per_instance) | (set(self.indexed) - instance_files))

    def sample_names(self, limit: int = 3) -> list[str]:
        return [f"{stem}_<k>.png" for stem in list(self.per_instance)[:limit]] or [f"{stem}.png" for stem in list(self.indexed)[:limit]]

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        stem = PurePosixPath(image_name).stem
        if stem in self.per_instance:
            if stem in self.indexed:
                raise GroundTruthProblem(
                    f"{self.path} has both {stem}.png (instance ids) and {stem}_<k>.png (one per instance); keep one kind")
            instances = []
            for k, png in sorted(self.per_instance[stem].items()):
                ids = read_id_png(png)
                check_size(ids.shape, size, str(png))
                instances.append(GtInstance(k, None, ids > 0))
            return GtImage(f"{self.path}/{stem}_<k>.png", instances)
        png = self.indexed[stem]
        ids = read_id_png(png)
        check_size(ids.shape, size, str(png))
        values = [int(v) for v in sorted(set(ids[ids > 0].ravel().tolist()))]
        return GtImage(str(png), [GtInstance(v, None, ids == v) for v in values])
