"""Qwen2.5-VL's own grounding answer: a JSON list of boxes in absolute pixels, often in a ```json fence.

    [{"bbox_2d": [x1, y1, x2, y2], "label": "apple"}, ...]

The pixels are those of the picture the model saw. Qwen2.5-VL resizes its input (``smart_resize``),
so pass ``--input-size WxH`` or ``--input-size smart-resize`` unless the boxes were already rescaled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.boxes import PIXELS
from segkit.detection_reader import DetectionFormatError, DetectionReader, ReaderContext, four_numbers, number
from segkit.detections import RawDetection
from segkit.hookspecs import hookimpl
from segkit.readers.qwen_json import pick_label
from segkit.text import preview

BOX_KEY = "bbox_2d"


class QwenGroundingReader(DetectionReader):
    name = "qwen-grounding"
    description = "Qwen2.5-VL answer: [{'bbox_2d': [x1, y1, x2, y2] pixels, 'label'}] (```json fence allowed)"
    suffixes = (".json", ".txt", ".md")

    def sniff(self, data: Any, path: Path) -> bool:
        return isinstance(data, list) and any(isinstance(r, dict) and BOX_KEY in r for r in data)

    def read(self, data: Any, path: Path, context: ReaderContext) -> dict[str, list[RawDetection]]:
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))  # {"objects": [...]} style wrappers
        if not isinstance(data, list):
            raise DetectionFormatError(path, f"expected a list of {{'{BOX_KEY}': [...], 'label': ...}} objects")
        space = context.input_space or PIXELS
        out = []
        for i, record in enumerate(data):
            where = f"detection {i}"
            if not isinstance(record, dict) or BOX_KEY not in record:
                raise DetectionFormatError(path, f"{where} has no {BOX_KEY!r}: {preview(record)}")
            conf = record.get("confidence", record.get("score"))
            out.append(
                RawDetection(
                    index=i,
                    label=pick_label(record) or "item",
                    box=four_numbers(record[BOX_KEY], path, f"{where} {BOX_KEY}"),
                    space=space,
                    confidence=None if conf is None else number(conf, path, f"{where} confidence"),
                    fields=record,
                )
            )
        return {path.stem: out}


@hookimpl
def register_detection_readers(register):
    register(QwenGroundingReader)
