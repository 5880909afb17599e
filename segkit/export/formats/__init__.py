"""One writer per dataset format; ``FORMATS`` names them as `segkit export --format` takes them.

A writer writes each image's own files as the image comes (``write_image``: YOLO's label file), returns
what the image adds to the one-file formats (its part: COCO annotations, a Label Studio task), and at the
end assembles those files from the parts, streamed one image at a time (``finish``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from segkit.export.source import ExportImage
from segkit.outputs.files import finite

Parts = Callable[[str | None], Iterator[dict[str, Any]]]  # split (None: all) -> the parts of its images, in stem order


class Writer:
    """The shape every format has; see the modules for what each writes."""

    name = ""
    owned: tuple[str, ...] = ()  # the top-level names it writes in the dataset folder
    splits = True  # whether the dataset is split into train and val
    images_needed = True  # whether the images must be beside the labels (Ultralytics finds them so)
    requires: tuple[str, ...] = ()  # modules of segkit[export] it needs, checked before anything is written

    def __init__(self, root: Path, classes: list[str], options: dict[str, Any]):
        self.root = root
        self.classes = classes
        self.class_ids = {name: i for i, name in enumerate(classes)}
        self.options = options

    def image_dir(self, split: str) -> Path:
        return self.root / "images" / split if self.splits else self.root / "images"

    def write_image(self, image: ExportImage, split: str, file_name: str) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self, parts: Parts, counts: dict[str, int]) -> list[Path]:
        raise NotImplementedError


def write_streamed(path: Path, chunks: Iterable[str]) -> None:
    """A file written from text chunks as they come (a 100k-image COCO file is never one string), whole or not
    at all: into a temporary file of segkit's marked name, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name[:100]}.segkit-{os.getpid()}-0.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_items(items: Iterable[Any]) -> Iterator[str]:
    """A JSON list's text, item by item."""
    yield "["
    for k, item in enumerate(items):
        yield ("," if k else "") + "\n" + json.dumps(finite(item), ensure_ascii=False, allow_nan=False)
    yield "\n]"


def _formats() -> dict[str, type[Writer]]:
    from segkit.export.formats.coco import CocoWriter
    from segkit.export.formats.cvat import CvatWriter
    from segkit.export.formats.labelstudio import LabelStudioWriter
    from segkit.export.formats.yolo_seg import YoloSegWriter

    return {w.name: w for w in (YoloSegWriter, CocoWriter, LabelStudioWriter, CvatWriter)}


FORMAT_NAMES = ("yolo-seg", "coco", "labelstudio", "cvat")


def writer_class(name: str) -> type[Writer]:
    return _formats()[name]
