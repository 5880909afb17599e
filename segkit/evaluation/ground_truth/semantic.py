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

from segkit.config import LimitSettings
from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import (
    GtImage,
    check_image_pixels,
    check_instance_count,
    present_ids,
    read_id_png,
)
from segkit.input_files import CLASS_NAMES, read_text
from segkit.text import shorten

IGNORED_IDS = frozenset({0, 255})
NUMBERED = re.compile(r"^\s*([0-9]+)[\s:,]+(.+?)\s*$")
MAX_CLASS_ID = 65535
MAX_NAME_CHARS = 200  # a class name, like a label (limits.max_label_chars), is cut beyond this
DEFAULT_MAX_BYTES = 16 * 2**20  # limits.max_config_file_bytes


def read_class_names(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[int, str]:
    """Class id -> name from a class-name file; InputError (one line) when it cannot be used.

    The file is read bounded (a regular file of at most ``max_bytes``, ``limits.max_config_file_bytes``);
    ids are pixel values, so at most 65535 (a 16-bit PNG's largest)."""
    text = read_text(path, max_bytes, CLASS_NAMES)
    lines = text.splitlines()
    entries = [line for line in lines if line.strip()]
    if not entries:
        raise InputError(f"class names {path} is empty; list one class per line ('<id> <name>' or '<name>')")
    numbered = [NUMBERED.match(line) for line in entries]
    names: dict[int, str] = {}
    if all(numbered):
        for line_no, match in enumerate(numbered, start=1):
            digits = match[1]  # type: ignore[index]
            class_id = int(digits) if len(digits) <= 6 else MAX_CLASS_ID + 1
            if class_id > MAX_CLASS_ID:
                raise InputError(f"class names {path} line {line_no}: id {shorten(digits, 20)} is above {MAX_CLASS_ID},"
                                 " the largest value a 16-bit PNG pixel holds")
            if class_id in names:
                raise InputError(f"class names {path} line {line_no}: id {class_id} is listed twice")
            names[class_id] = shorten(match[2], MAX_NAME_CHARS)  # type: ignore[index]
    else:
        if len(lines) > MAX_CLASS_ID + 1:
            raise InputError(f"class names {path} has {len(lines)} lines; ids are line numbers from 0 and go up to"
                             f" {MAX_CLASS_ID} (a 16-bit PNG's largest pixel value)")
        names = {i: shorten(line.strip(), MAX_NAME_CHARS) for i, line in enumerate(lines) if line.strip()}
    return names


@dataclass
class SemanticGroundTruth:
    path: Path
    class_names: dict[int, str]
    pngs: dict[str, Path] = field(default_factory=dict)
    limits: LimitSettings = field(default_factory=LimitSettings)
    format: str = "semantic"

    @property
    def categories(self) -> list[str]:
        return sorted({name for class_id, name in self.class_names.items() if class_id not in IGNORED_IDS})

    @classmethod
    def open(cls, path: Path, classes: Path | None, limits: LimitSettings | None = None) -> "SemanticGroundTruth":
        limits = limits or LimitSettings()
        if classes is None:
            raise InputError(f"semantic ground truth {path} needs its class names: pass --gt-classes FILE (one class per line, '<id> <name>' or '<name>')")
        names = read_class_names(classes, limits.max_config_file_bytes)
        try:
            pngs = {p.stem: p for p in sorted(path.iterdir()) if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()}
        except OSError as exc:
            raise InputError(f"cannot list ground truth folder {path} ({exc.strerror or exc}); check the folder and its permissions") from exc
        if not pngs:
            raise InputError(f"ground truth folder {path} holds no PNG files; pass the folder of <stem>.png class-id masks")
        return cls(path, names, pngs, limits)

    def has(self, image_name: str) -> bool:
        return PurePosixPath(image_name).stem in self.pngs

    def image_count(self) -> int:
        return len(self.pngs)

    def sample_names(self, limit: int = 3) -> list[str]:
        return [png.name for png in list(self.pngs.values())[:limit]]

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        png = self.pngs[PurePosixPath(image_name).stem]
        check_image_pixels(size, self.limits, str(png))
        ids = read_id_png(png, size, self.limits)
        present = [int(v) for v in present_ids(ids)]
        check_instance_count(sum(v not in IGNORED_IDS for v in present), self.limits, str(png))
        names = {c: self.class_names.get(c, f"class {c}") for c in present}
        return GtImage(str(png), classes=ids, class_names=names, ignore=IGNORED_IDS)
