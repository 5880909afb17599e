"""Qwen2.5-VL's own grounding answer: a JSON list of boxes, often in a ```json fence, often cut off.

    [{"bbox_2d": [x1, y1, x2, y2], "label": "apple"}, ...]

What the numbers mean depends on the model: Qwen2.5-VL answers in pixels of the picture it saw (its
processor's ``smart_resize`` of the image), Qwen2-VL and Qwen3-VL in 0..1000 of the image. So pass
``--box-space qwen2.5-vl[:MAX_PIXELS]`` or ``--box-space qwen3-vl`` (``pixels`` is the default: boxes
already in pixels of the image). Answers are read forgivingly (``segkit.inputs.model_answer``): prose around
the fence, a missing closing fence and trailing commas are fine, and an answer cut off at the token
limit keeps its complete objects, with a warning naming the file and how many were kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.inputs.box_spaces import PIXELS
from segkit.inputs.detections import RawDetection
from segkit.inputs.model_answer import AnswerError, ModelAnswer, parse_model_answer
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
    four_numbers,
    number,
)
from segkit.inputs.readers.qwen_json import pick_label
from segkit.text import preview

BOX_KEY = "bbox_2d"


def _records(data: Any) -> Any:
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        return next(iter(data.values()))  # {"objects": [...]} style wrappers
    return data


class QwenGroundingReader(DetectionReader):
    name = "qwen-grounding"
    description = "Qwen-VL answer: [{'bbox_2d': [x1, y1, x2, y2], 'label'}] (```json fence, cut-off answers kept)"
    suffixes = (".json", ".txt", ".md")

    def parse(self, text: str, path: Path) -> ModelAnswer:
        try:
            return parse_model_answer(text)
        except AnswerError as exc:
            raise DetectionFormatError(path, str(exc)) from None

    def sniff(self, data: Any, path: Path) -> bool:
        if isinstance(data, ModelAnswer):
            if data.cut_off and not data.kept:  # cut off before its first object ended
                return f'"{BOX_KEY}"' in data.text
            data = data.data
        records = _records(data)
        return isinstance(records, list) and any(isinstance(r, dict) and BOX_KEY in r for r in records)

    def read(self, data: Any, path: Path, context: ReaderContext) -> dict[str, list[RawDetection]]:
        answer = data if isinstance(data, ModelAnswer) else ModelAnswer(data)
        records = _records(answer.data)
        if not isinstance(records, list):
            raise DetectionFormatError(path, f"expected a list of {{'{BOX_KEY}': [...], 'label': ...}} objects")
        if answer.cut_off:
            kept = f"kept the {len(records)} complete object{'' if len(records) == 1 else 's'} before it"
            context.warn(f"{path}: {answer.problem}; {kept}")
        space = context.box_space or PIXELS
        out = []
        for i, record in enumerate(records):
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
