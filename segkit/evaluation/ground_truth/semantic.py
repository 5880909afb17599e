"""Semantic masks as ground truth (FoodSeg103 style): ``<stem>.png`` per image whose pixels are class
ids, and a class-name file. The ground truth of a detection is its class's region inside its box.

The class-name file has one class per line, either ``<id> <name>`` (tab or spaces, FoodSeg103's
``category_id.txt``) or just ``<name>`` (the line number, from 0, is the id). Ids 0 (background) and
255 (void) are no object: they are never matched and never counted as missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import GtImage, check_size, read_id_png

IGNORED_IDS = frozenset({0, 255})
NUMBERED = re.compile(r"^\s*(\d+)[\s:,]+(.+?)\s*$")


def read_class_names(path: Path) -> dict[int, str]:
    """Class id -> name from a class-name file; InputError (one line) when it cannot be used."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read class names {path}: {exc.strerror or exc}; pass --gt-classes an existing text file") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"class names {path} are not UTF-8 text; save the file as UTF-8") from exc
    entries = [line for line in lines if line.strip()]
    if not entries:
        raise InputError(f"class names {path} is empty; list one class per line ('<id> <name>' or '<name>')")
    numbered = [NUMBERED.match(line) for line in entries]
    names: dict[int, str] = {}
    if all(numbered):
        for line_no, match in enumerate(numbered, start=1):
            class_id = int(match[1])  # type: ignore[index]
            if class_id in names:
                raise InputError(f"class names {path} line {line_no}: id {class_id} is listed twice")
            names[class_id] = match[2]  # type: ignore[index]
    else:
        names = {i: line.strip() for i, line in enumerate(lines) if line.strip()}
    return names


@dataclass
class SemanticGroundTruth:
    path: Path
    class_names: dict[int, str]
    pngs: dict[str, Path] = field(default_factory=dict)
    format: str = "semantic"

    @property
    def categories(self) -> list[str]:
        return sorted({name for class_id, name in self.class_names.items() if class_id not in IGNORED_IDS})

    @classmethod
    def open(cls, path: Path, classes: Path | None) -> "SemanticGroundTruth":
        if classes is None:
            raise InputError(f"semantic ground truth {path} needs its class names: pass --gt-classes FILE (one class per line, '<id> <name>' or '<name>')")
        names = read_class_names(classes)
        pngs = {p.stem: p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() == ".png" and not p.name.startswith(".")}
        if not pngs:
            raise InputError(f"ground truth folder {path} holds no PNG files; pass the folder of <stem>.png class-id masks")
        return cls(path, names, pngs)

    def has(self, image_name: str) -> bool:
        return PurePosixPath(image_name).stem in self.pngs

    def image_count(self) -> int:
        return len(self.pngs)

    def sample_names(self, limit: int = 3) -> list[str]:
        return [png.name for png in list(self.pngs.values())[:limit]]

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        png = self.pngs[PurePosixPath(image_name).stem]
        ids = read_id_png(png)
        check_size(ids.shape, size, str(png))
        present = {int(v) for v in set(ids.ravel().tolist())}
        names = {c: self.class_names.get(c, f"class {c}") for c in present}
        return GtImage(str(png), classes=ids, class_names=names, ignore=IGNORED_IDS)
