"""What `segkit eval` wrote, read for the page: each detection's ``ground_truth`` entry in its image
record, and the ground-truth masks themselves for the image view's overlay.

eval.json itself goes to the page as it is. The schema followed here is eval's (eval.json ``version``
1): a detection's entry is ``{status, gt_id, category, match_iou, backends: {name: {iou, boundary_iou}},
box: {iou, boundary_iou}}``; ``options`` holds the ground truth's path, format and class-name file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

BOX = "box"  # eval's baseline: the detection box as a mask

GtMasks = Callable[[str, tuple[int, int]], "np.ndarray | None"]


def _number(entry: Any, key: str) -> float | None:
    value = entry.get(key) if isinstance(entry, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def detection_gt(det: Mapping[str, Any], backends: Sequence[str]) -> dict[str, Any] | None:
    """A detection's scores against ground truth for the page (per backend in ``backends`` order), or None."""
    entry = det.get("ground_truth")
    if not isinstance(entry, Mapping):
        return None
    per_backend = entry.get("backends") if isinstance(entry.get("backends"), Mapping) else {}
    return {
        "status": entry.get("status"),
        "gt_id": entry.get("gt_id"),
        "category": entry.get("category"),
        "iou": [_number(per_backend.get(b), "iou") for b in backends],
        "boundary_iou": [_number(per_backend.get(b), "boundary_iou") for b in backends],
        "box_iou": _number(entry.get("box"), "iou"),
    }


def gt_plot_values(records: Mapping[str, Mapping[str, Any]], backends: Sequence[str]) -> dict[str, list[float]]:
    """Per backend, then the box baseline: the IoU against ground truth of every matched detection."""
    out: dict[str, list[float]] = {name: [] for name in [*backends, BOX]}
    for record in records.values():
        for det in record.get("detections", []):
            scores = detection_gt(det, backends)
            if scores is None:
                continue
            for name, value in [*zip(backends, scores["iou"]), (BOX, scores["box_iou"])]:
                if value is not None:
                    out[name].append(value)
    return out


def ground_truth_masks(evaluation: Mapping[str, Any] | None) -> tuple[GtMasks | None, str | None, str | None]:
    """A function giving an image's ground truth as one (H, W) mask (every instance, or every object class),
    an identity of the source (for reusing pictures), and a problem when the source cannot be opened.

    It reads the ground truth with `segkit eval`'s own readers, with the options eval.json records; where
    those are not installed, or eval.json names no source, the page goes without the ground-truth layer.
    """
    options = evaluation.get("options") if evaluation else None
    if not isinstance(options, Mapping) or not options.get("gt"):
        return None, None, None
    try:
        from segkit.evaluation.ground_truth.formats import open_ground_truth
    except ImportError:
        return None, None, None
    path = Path(str(options["gt"]))
    classes = Path(str(options["gt_classes"])) if options.get("gt_classes") else None
    try:
        source = open_ground_truth(path, str(options.get("gt_format", "auto")), classes)
        stat = path.stat()
    except Exception as exc:  # InputError, or anything the reader raises on a changed file: the page goes on without it
        return None, None, f"ground truth {path} cannot be read for the image view ({exc})"

    def masks(image_name: str, size: tuple[int, int]) -> np.ndarray | None:
        if not source.has(image_name):
            return None
        found = source.load(image_name, size)
        if found.semantic:
            return ~np.isin(found.classes, sorted(found.ignore))
        union = np.zeros((size[1], size[0]), bool)
        for instance in found.instances:
            union |= instance.mask
        return union

    return masks, f"{path}:{stat.st_size}:{stat.st_mtime_ns}", None
