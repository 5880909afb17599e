"""Detections: what readers produce (raw, in the detector's coordinates) and what backends receive."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from segkit.inputs.box_spaces import (
    PIXELS,
    BoxFormat,
    BoxSpace,
    as_xyxy,
    box_space_mismatch,
    to_pixel_xyxy,
)


@dataclass(frozen=True)
class RawDetection:
    """One detection as the detector wrote it; ``index`` is its position in the source."""

    index: int
    label: str
    box: tuple[float, ...]
    space: BoxSpace = PIXELS
    box_format: BoxFormat = "xyxy"
    confidence: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """A detection resolved against its image: pixel xyxy, clipped, ordered."""

    id: int
    label: str
    box: tuple[float, float, float, float]
    confidence: float | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class SkippedDetection:
    id: int
    label: str
    reason: str


def resolve_detections(
    raws: Sequence[RawDetection], image_size: tuple[int, int], conf: float = 0.0
) -> tuple[list[Detection], list[SkippedDetection]]:
    """Turn a reader's detections into pixel boxes for one image; report what is skipped and why."""
    kept: list[Detection] = []
    skipped: list[SkippedDetection] = []
    for raw in raws:
        if raw.confidence is not None and not math.isfinite(raw.confidence):  # NaN would pass any threshold
            skipped.append(SkippedDetection(raw.index, raw.label, f"its confidence is {raw.confidence}, not a number"
                                            " between 0 and 1; write a number or null"))
            continue
        if raw.confidence is not None and raw.confidence < conf:
            skipped.append(SkippedDetection(raw.index, raw.label, f"confidence {raw.confidence:g} < {conf:g}"))
            continue
        box, problem = to_pixel_xyxy(raw.box, image_size, raw.space, raw.box_format)
        if box is None:
            skipped.append(SkippedDetection(raw.index, raw.label, problem or "unusable box"))
            continue
        kept.append(Detection(raw.index, raw.label, box, raw.confidence, dict(raw.fields)))
    return kept, skipped


def boxes_array(detections: Sequence[Detection]) -> np.ndarray:
    """(N, 4) float32 pixel xyxy, the form every backend receives."""
    if not detections:
        return np.zeros((0, 4), dtype=np.float32)
    return np.asarray([d.box for d in detections], dtype=np.float32)


def box_space_warning(raws: Sequence[RawDetection], image_size: tuple[int, int]) -> str | None:
    """One line when a reader's boxes clearly do not fit the space they are declared in, naming the
    space they are likely in (see ``boxes.box_space_mismatch``); None when they fit."""
    by_space: dict[tuple[BoxSpace, str], list[tuple[float, float, float, float]]] = {}
    for raw in raws:
        try:
            by_space.setdefault((raw.space, raw.box_format), []).append(as_xyxy(raw.box, raw.box_format))
        except (TypeError, ValueError):
            continue  # not four numbers: resolve_detections reports it per detection
    for (space, _), boxes in by_space.items():
        problem = box_space_mismatch(np.asarray(boxes, dtype=np.float64), space, image_size)
        if problem:
            return f"boxes do not fit {space.describe()} ({space.spec()}): {problem}"
    return None
