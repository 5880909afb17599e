"""The seed plan's Qwen JSON: one file per image, boxes normalized to 0..1.

    {"detections": [{"bbox_xyxy_norm": [x1, y1, x2, y2], "label_ja": "りんご", "confidence": 0.9}]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.inputs.box_spaces import NORMALIZED
from segkit.inputs.detections import RawDetection
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
    four_numbers,
    number,
)
from segkit.text import preview, shorten

LABEL_KEYS = ("label_ja", "label", "label_en", "name", "category", "class")
BOX_KEY = "bbox_xyxy_norm"


def pick_label(record: dict[str, Any]) -> str | None:
    for key in LABEL_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class QwenJsonReader(DetectionReader):
    name = "qwen-json"
    description = "one JSON per image: {'detections': [{'bbox_xyxy_norm', 'label_ja'|'label', 'confidence'}]}"

    def sniff(self, data: Any, path: Path) -> bool:
        return isinstance(data, dict) and isinstance(data.get("detections"), list)

    def read(self, data: Any, path: Path, context: ReaderContext) -> dict[str, list[RawDetection]]:
        if not self.sniff(data, path):
            raise DetectionFormatError(path, "expected an object with a 'detections' list")
        out = []
        for i, record in enumerate(data["detections"]):
            where = f"detection {i}"
            if not isinstance(record, dict):
                raise DetectionFormatError(path, f"{where} is {preview(record)}, expected an object")
            if BOX_KEY not in record:
                raise DetectionFormatError(path, f"{where} has no {BOX_KEY!r} (keys: {shorten(', '.join(map(str, record)), 120) or 'none'})")
            box = four_numbers(record[BOX_KEY], path, f"{where} {BOX_KEY}")
            conf = record.get("confidence")
            out.append(
                RawDetection(
                    index=i,
                    label=pick_label(record) or "item",
                    box=box,
                    space=NORMALIZED,
                    confidence=None if conf is None else number(conf, path, f"{where} confidence"),
                    fields=record,
                )
            )
        return {path.stem: out}
