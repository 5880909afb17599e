"""A folder of instance mask PNGs as ground truth, found by image stem. Per image, either

* ``<stem>_<k>.png``: one PNG per instance (any non-zero pixel belongs to it), instance id ``k``; or
* ``<stem>.png``: one single-channel PNG whose pixel values are instance ids (0 is background).

Instances have no category, so matching is class-agnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from segkit.config import LimitSettings
from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import (
    GroundTruthProblem,
    GtImage,
    GtInstance,
    check_image_pixels,
    check_instance_count,
    present_ids,
    read_id_png,
)

INSTANCE_FILE = re.compile(r"^(?P<stem>.+)_(?P<k>[0-9]{1,18})$")  # k: an instance id, at most 18 digits


@dataclass
class InstancePngGroundTruth:
    path: Path
    indexed: dict[str, Path] = field(default_factory=dict)  # stem -> <stem>.png
    per_instance: dict[str, dict[int, Path]] = field(default_factory=dict)  # stem -> k -> <stem>_<k>.png
    repeated: dict[str, tuple[Path, Path]] = field(default_factory=dict)  # stem -> two files of one instance id
    limits: LimitSettings = field(default_factory=LimitSettings)
    format: str = "instance-pngs"
    categories: list[str] | None = None

    @classmethod
    def open(cls, path: Path, limits: LimitSettings | None = None) -> "InstancePngGroundTruth":
        found = cls(path, limits=limits or LimitSettings())
        try:
            pngs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file())
        except OSError as exc:
            raise InputError(f"cannot list ground truth folder {path} ({exc.strerror or exc}); check the folder and its permissions") from exc
        if not pngs:
            raise InputError(f"ground truth folder {path} holds no PNG files; pass a folder of <stem>_<k>.png or <stem>.png masks, or a COCO JSON file")
        for png in pngs:
            found.indexed[png.stem] = png
            match = INSTANCE_FILE.match(png.stem)
            if match:
                files = found.per_instance.setdefault(match["stem"], {})
                k = int(match["k"])
                if k in files:  # a_1.png and a_01.png: one instance id, two masks
                    found.repeated.setdefault(match["stem"], (files[k], png))
                files[k] = png
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
        check_image_pixels(size, self.limits, f"{self.path} ({stem})")
        if stem in self.per_instance:
            if stem in self.indexed:
                raise GroundTruthProblem(
                    f"{self.path} has both {stem}.png (instance ids) and {stem}_<k>.png (one per instance); keep one kind")
            if stem in self.repeated:
                first, second = self.repeated[stem]
                raise GroundTruthProblem(f"{first.name} and {second.name} in {self.path} are both instance"
                                         f" {int(INSTANCE_FILE.match(first.stem)['k'])}; give each instance its own number")  # type: ignore[index]
            files = self.per_instance[stem]
            check_instance_count(len(files), self.limits, f"{self.path}/{stem}_<k>.png")
            instances = [GtInstance(k, None, read_id_png(png, size, self.limits) > 0) for k, png in sorted(files.items())]
            return GtImage(f"{self.path}/{stem}_<k>.png", instances)
        png = self.indexed[stem]
        ids = read_id_png(png, size, self.limits)
        values = [int(v) for v in present_ids(ids) if v > 0]
        check_instance_count(len(values), self.limits, str(png))
        return GtImage(str(png), [GtInstance(v, None, ids == v) for v in values])
