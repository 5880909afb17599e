"""``--format yolo-seg``: what Ultralytics trains a segmentation model on.

    images/train/<stem>.<ext>, images/val/...   the images (Ultralytics finds a label by replacing the last
                                                /images/ of the image's path with /labels/)
    labels/train/<stem>.txt, labels/val/...     one line per instance: ``class x1 y1 x2 y2 ...``, the polygon
                                                normalised to the image's width and height
    data.yaml                                   path, train, val and names {0: ...}

Each line is supervision's (``object_to_yolo``). Two of supervision's ``as_yolo`` habits are not taken:
it writes one line per piece of a mask (a mask in two pieces would be two instances; segkit.export.polygons
joins the pieces into one polygon), and its data YAML has only ``nc`` and ``names``, which Ultralytics
cannot train from (no ``path``, ``train``, ``val``): the YAML is written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from segkit.export.formats import Parts, Writer
from segkit.export.polygons import mask_polygons, one_polygon
from segkit.export.source import ExportImage
from segkit.outputs.files import atomic_write_bytes


def yolo_lines(image: ExportImage, class_ids: dict[str, int], tolerance: float) -> list[str]:
    """One YOLO-seg line per object: its pieces as one polygon (never a line per piece)."""
    from supervision.dataset.formats.yolo import object_to_yolo

    lines = []
    for obj in image.objects:
        pieces = mask_polygons(image.masks.masks[obj.index], tolerance)
        if not pieces:
            continue
        polygon = one_polygon(pieces)
        xyxy = np.array([*polygon.min(axis=0), *polygon.max(axis=0)], dtype=np.float64)
        lines.append(object_to_yolo(xyxy, class_ids[obj.class_name], (image.height, image.width), polygon=polygon))
    return lines


class YoloSegWriter(Writer):
    name = "yolo-seg"
    owned = ("images", "labels", "data.yaml")

    def label_path(self, split: str, stem: str) -> Path:
        return self.root / "labels" / split / f"{stem}.txt"

    def write_image(self, image: ExportImage, split: str, file_name: str) -> dict[str, Any]:
        lines = yolo_lines(image, self.class_ids, self.options["polygon_tolerance"])
        atomic_write_bytes(self.label_path(split, image.stem), "".join(f"{line}\n" for line in lines).encode("ascii"))
        return {"lines": len(lines)}

    def finish(self, parts: Parts, counts: dict[str, int]) -> list[Path]:
        val = "images/val" if counts.get("val") else "images/train"  # Ultralytics needs a val set
        data = {"path": str(self.root.resolve()), "train": "images/train", "val": val,
                "names": dict(enumerate(self.classes))}
        path = self.root / "data.yaml"
        atomic_write_bytes(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8"))
        (self.root / "images" / "train").mkdir(parents=True, exist_ok=True)
        return [path]
