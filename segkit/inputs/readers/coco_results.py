"""COCO detections: a results list, or a dataset-style file with images and categories.

    [{"image_id": 42, "bbox": [x, y, w, h], "score": 0.9, "category_id": 3}, ...]
    {"images": [{"id", "file_name"}], "categories": [{"id", "name"}], "annotations": [...]}

Labels come from ``categories`` when the file has them, else a ``category_name``/``label`` field,
else ``class_<id>``. Images are matched by file name, or by id against a numeric file stem.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from segkit.inputs.box_spaces import PIXELS
from segkit.inputs.detections import RawDetection
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
    four_numbers,
    number,
)
from segkit.text import preview


def _is_result(record: Any) -> bool:
    return isinstance(record, dict) and "image_id" in record and "bbox" in record


class CocoResultsReader(DetectionReader):
    name = "coco"
    description = "COCO results [{'image_id', 'bbox': [x, y, w, h], 'score', 'category_id'}] or a dataset file"

    def sniff(self, data: Any, path: Path) -> bool:
        if isinstance(data, list):
            return bool(data) and _is_result(data[0])
        return isinstance(data, dict) and isinstance(data.get("annotations"), list)

    def read(self, data: Any, path: Path, context: ReaderContext) -> dict[str, list[RawDetection]]:
        if isinstance(data, dict):
            records = data.get("annotations")
            if not isinstance(records, list):
                raise DetectionFormatError(path, "expected an 'annotations' list")
            images = data.get("images") or []
            categories = data.get("categories") or []
        elif isinstance(data, list):
            records, images, categories = data, [], []
        else:
            raise DetectionFormatError(path, "expected a COCO results list or a dataset object")

        file_names = {}
        for img in images:
            if isinstance(img, dict) and "id" in img and "file_name" in img:
                file_names[img["id"]] = Path(str(img["file_name"])).name
        names = {c["id"]: str(c["name"]) for c in categories if isinstance(c, dict) and "id" in c and "name" in c}

        per_image: dict[str, list[RawDetection]] = defaultdict(list)
        for i, record in enumerate(records):
            where = f"annotation {i}"
            if not _is_result(record):
                raise DetectionFormatError(path, f"{where} needs 'image_id' and 'bbox': {preview(record)}")
            image_id = record["image_id"]
            key = file_names.get(image_id, str(image_id))
            category = record.get("category_id")
            label = names.get(category) or record.get("category_name") or record.get("label")
            label = str(label) if label else f"class_{category}"
            score = record.get("score")
            index = len(per_image[key])
            per_image[key].append(
                RawDetection(
                    index=index,
                    label=label,
                    box=four_numbers(record["bbox"], path, f"{where} bbox"),
                    space=PIXELS,
                    box_format="xywh",
                    confidence=None if score is None else number(score, path, f"{where} score"),
                    fields=record,
                )
            )
        return dict(per_image)
