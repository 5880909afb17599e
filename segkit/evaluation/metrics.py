"""Statistics over scored detections: IoU summaries, which backend is best, the worst detections.

The measures themselves (mask IoU, boundary IoU) come from ``segkit.outputs.mask_metrics``; this module only adds
them up.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from segkit.evaluation.scoring import DetectionEval, Measure

UNDER = (0.5, 0.75)  # the IoU levels whose shares are reported
DIGITS = 6


def r(value: float | None, digits: int = DIGITS) -> float | None:
    return None if value is None else float(round(float(value), digits))


def measure_of(det: DetectionEval, name: str, baseline: bool = False) -> Measure | None:
    return det.box if baseline else det.backends.get(name)


def measure_stats(measures: Sequence[Measure]) -> dict[str, Any]:
    """Mean and median mask IoU and boundary IoU, and the count and share below 0.5 and 0.75."""
    ious = np.asarray([m.iou for m in measures], dtype=np.float64)
    bious = np.asarray([m.boundary_iou for m in measures], dtype=np.float64)
    n = len(measures)
    out: dict[str, Any] = {
        "matched": n,
        "mean_iou": r(ious.mean()) if n else None,
        "median_iou": r(np.median(ious)) if n else None,
        "mean_boundary_iou": r(bious.mean()) if n else None,
        "median_boundary_iou": r(np.median(bious)) if n else None,
    }
    for level in UNDER:
        below = int(np.count_nonzero(ious < level))
        tag = f"{int(round(level * 100))}"
        out[f"under_{tag}"] = below
        out[f"fraction_under_{tag}"] = r(below / n) if n else None
    return out


def best_counts(dets: Sequence[DetectionEval], backends: Sequence[str]) -> tuple[int, dict[str, float]]:
    """Over matched detections, how often each backend has the highest IoU (k tied backends get 1/k each)."""
    counts = {name: 0.0 for name in backends}
    considered = 0
    for det in dets:
        values = {name: round(det.backends[name].iou, DIGITS) for name in backends if name in det.backends}
        if not values:
            continue
        considered += 1
        top = max(values.values())
        winners = [name for name, v in values.items() if v == top]
        for name in winners:
            counts[name] += 1.0 / len(winners)
    return considered, {name: round(v, 4) for name, v in counts.items()}


def worse_than_box(dets: Sequence[DetectionEval], name: str) -> int:
    """Matched detections where the backend's mask scores a lower IoU than the detection box itself."""
    return sum(1 for d in dets if name in d.backends and d.box is not None
               and round(d.backends[name].iou, DIGITS) < round(d.box.iou, DIGITS))


def worst(dets: Sequence[DetectionEval], name: str, limit: int) -> list[dict[str, Any]]:
    """A backend's matched detections with the lowest IoU against ground truth, lowest first."""
    scored = [d for d in dets if name in d.backends]
    ranked = sorted(scored, key=lambda d: (d.backends[name].iou, d.image, d.det_id))[: max(0, limit)]
    return [
        {
            "image": d.image,
            "detection": d.det_id,
            "label": d.label,
            "category": d.match.category,
            "gt_id": d.match.gt_id,
            "iou": r(d.backends[name].iou),
            "boundary_iou": r(d.backends[name].boundary_iou),
            "baseline_iou": r(d.box.iou) if d.box is not None else None,
            "panel": d.panel,
            "mask": d.masks.get(name),
        }
        for d in ranked
    ]
