"""The dataset report: how the backends agree over every detection of every image.

Built from image records alone (``json/<stem>.json`` as a run or compare wrote it, or the same dicts
still in memory as ``ImageRecord``), never from masks: the pair IoUs and mask areas are already in the records. So a
run and a compare over the same masks give the same report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from segkit.outputs.files import write_csv, write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import backend_pairs, pair_name
from segkit.outputs.quality import FLAGS
from segkit.outputs.records import ImageRecord

REPORT_VERSION = 1
DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_WORST = 10

DEFINITIONS = {
    "iou": "intersection over union of two backends' masks for the same detection; 1.0 when both are empty",
    "p5_iou": "5th percentile of the IoUs (numpy.percentile, linear interpolation): 95% of detections agree at least this well",
    "below_threshold": "detections whose IoU is strictly below iou_threshold; fraction_below is their share",
    "area_ratio": "for pair 'a vs b', median over detections of area(b) / area(a) in pixels: 1.0 = same size, 0.8 = b's masks are 20% smaller; detections with an empty mask from a are left out (empty_a)",
    "seconds_per_image": "mean time the backend took per image, over images where it was given at least one box",
    "worst": "detections with the lowest IoU of any pair, lowest first, one entry per detection",
    "flags": "per backend, how many of its masks carry each quality flag (segkit.outputs.quality): empty (no pixel),"
             " spill (more than quality.max_spill of the mask outside its box), low_fill (covers less than"
             " quality.min_fill of its box), fragmented (more than quality.max_pieces pieces); flagged: masks with any",
}

PAIR_STATS = ("detections", "mean_iou", "median_iou", "p5_iou", "min_iou", "below_threshold", "fraction_below",
              "median_area_ratio", "empty_a", "empty_b")
BACKEND_STATS = ("images", "detections", "empty_masks", "mean_score", "seconds_per_image", "failures")
FLAG_COLUMNS = tuple(f"flag_{name}" for name in FLAGS)
CSV_HEADER = ("scope", "pair", "backend_a", "backend_b", "label", "backend", *PAIR_STATS, "iou_threshold",
              "images", "empty_masks", "mean_score", "seconds_per_image", "failures", "flagged", *FLAG_COLUMNS)


@dataclass(frozen=True)
class Comparison:
    """One detection seen by one pair of backends."""

    image: str
    det_id: int
    label: str
    a: str
    b: str
    iou: float
    area_a: int
    area_b: int
    panel: str | None
    masks: tuple[str | None, str | None]


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else float(round(float(value), digits))


def pair_stats(items: Sequence[Comparison], threshold: float) -> dict[str, Any]:
    """IoU and area statistics of some detections of one pair; None where there is nothing to measure."""
    values = np.asarray([c.iou for c in items], dtype=np.float64)
    ratios = np.asarray([c.area_b / c.area_a for c in items if c.area_a > 0], dtype=np.float64)
    n = len(values)
    below = int(np.count_nonzero(values < threshold))
    return {
        "detections": n,
        "mean_iou": _r(values.mean()) if n else None,
        "median_iou": _r(np.median(values)) if n else None,
        "p5_iou": _r(np.percentile(values, 5)) if n else None,
        "min_iou": _r(values.min()) if n else None,
        "below_threshold": below,
        "fraction_below": _r(below / n) if n else None,
        "median_area_ratio": _r(np.median(ratios)) if len(ratios) else None,
        "empty_a": sum(1 for c in items if c.area_a == 0),
        "empty_b": sum(1 for c in items if c.area_b == 0),
    }


def comparisons(records: Iterable[ImageRecord], backends: Sequence[str]) -> list[Comparison]:
    """Every (detection, pair) that both backends of the pair answered, in record order."""
    out = []
    pairs = backend_pairs(backends)
    for record in records:
        for det in record.detections:
            answers = det.backends
            for a, b in pairs:
                if a not in answers or b not in answers:
                    continue
                value = det.pair_iou(a, b)
                if value is None:
                    continue
                out.append(Comparison(record.image, det.id, det.label, a, b, float(value),
                                      answers[a].area_px, answers[b].area_px, record.panel,
                                      (answers[a].mask, answers[b].mask)))
    return out


def backend_stats(records: Sequence[ImageRecord], backend: str) -> dict[str, Any]:
    images = [r for r in records if backend in r.backends]
    answers = [d.backends[backend] for r in images for d in r.detections if backend in d.backends]
    timed = [r.backends[backend].seconds for r in images if any(backend in d.backends for d in r.detections)]
    return {
        "backend": backend,
        "images": len(images),
        "detections": len(answers),
        "empty_masks": sum(1 for a in answers if a.area_px == 0),
        "mean_score": _r(np.mean([a.score for a in answers])) if answers else None,
        "seconds_per_image": _r(np.mean(timed), 4) if timed else None,
        "failures": sum(1 for r in records if backend in r.failed_backends),
        "flagged": sum(1 for a in answers if a.flags),
        "flags": {name: sum(1 for a in answers if name in a.flags) for name in FLAGS},
    }


def build_report(
    records: Sequence[ImageRecord],
    backends: Sequence[str],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    worst: int = DEFAULT_WORST,
) -> dict[str, Any]:
    """The report over image records, for ``backends`` in that order (pair 'a vs b' follows it)."""
    backends = list(backends)
    items = comparisons(records, backends)
    pairs = []
    labels = []
    by_pair: dict[tuple[str, str], list[Comparison]] = {}
    by_label: dict[tuple[str, str, str], list[Comparison]] = {}
    for c in items:
        by_pair.setdefault((c.a, c.b), []).append(c)
        by_label.setdefault((c.a, c.b, c.label), []).append(c)
    for a, b in backend_pairs(backends):
        pairs.append({"pair": pair_name(a, b), "a": a, "b": b, **pair_stats(by_pair.get((a, b), []), iou_threshold)})
        for label in sorted(label for (pa, pb, label) in by_label if (pa, pb) == (a, b)):
            stats = pair_stats(by_label[(a, b, label)], iou_threshold)
            labels.append({"label": label, "pair": pair_name(a, b), "a": a, "b": b, **stats})

    lowest: dict[tuple[str, int], Comparison] = {}
    for c in items:
        key = (c.image, c.det_id)
        if key not in lowest or c.iou < lowest[key].iou:
            lowest[key] = c
    ranked = sorted(lowest.values(), key=lambda c: (c.iou, c.image, c.det_id))[: max(0, worst)]
    detection_count = sum(len(r.detections) for r in records if any(b in r.backends for b in backends))
    return {
        "version": REPORT_VERSION,
        "backends": backends,
        "iou_threshold": iou_threshold,
        "images": sum(1 for r in records if any(b in r.backends or b in r.failed_backends for b in backends)),
        "detections": detection_count,
        "pairs": pairs,
        "labels": labels,
        "backend_stats": [backend_stats(records, b) for b in backends],
        "worst": [
            {"image": c.image, "detection": c.det_id, "label": c.label, "pair": pair_name(c.a, c.b), "iou": _r(c.iou),
             "area_a": c.area_a, "area_b": c.area_b, "panel": c.panel, "masks": list(c.masks)}
            for c in ranked
        ],
        "definitions": DEFINITIONS,
    }


def report_csv_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """report.csv: one row per pair (scope 'pair'), per pair and label ('label'), per backend ('backend')."""
    columns = {name: i for i, name in enumerate(CSV_HEADER)}
    rows = []

    def row(**values: Any) -> list[Any]:
        out: list[Any] = [None] * len(CSV_HEADER)
        for key, value in values.items():
            if key in columns:
                out[columns[key]] = value
        return out

    for entry in report["pairs"]:
        rows.append(row(scope="pair", backend_a=entry["a"], backend_b=entry["b"], iou_threshold=report["iou_threshold"], **entry))
    for entry in report["labels"]:
        rows.append(row(scope="label", backend_a=entry["a"], backend_b=entry["b"], iou_threshold=report["iou_threshold"], **entry))
    for entry in report["backend_stats"]:
        flags = {f"flag_{name}": count for name, count in entry.get("flags", {}).items()}
        rows.append(row(scope="backend", **{k: v for k, v in entry.items() if k != "flags"}, **flags))
    return rows


def save_report(layout: OutputLayout, report: Mapping[str, Any]) -> list[Path]:
    """Write OUT/report.json and OUT/report.csv; return their paths."""
    write_json(layout.report_json_path, report)
    write_csv(layout.report_csv_path, CSV_HEADER, report_csv_rows(report))
    return [layout.report_json_path, layout.report_csv_path]
