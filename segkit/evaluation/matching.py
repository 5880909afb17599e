"""Which ground truth each detection is of.

Instances (COCO, instance PNGs): one-to-one by box IoU, as COCO matches: detections by confidence,
highest first (a detection without a confidence counts as 1.0; ties by detection id), each takes the
still unmatched ground-truth instance whose box overlaps its box most, if that box IoU reaches the
threshold. Class-agnostic unless a label map gives each detection a category; crowd regions are never
matched. Ground-truth boxes are the masks' own extents.

Semantic masks: a detection is of the class its label maps to (class-aware), else of the class that
covers most of its box; its ground truth is that class's region inside its box. Several detections may
share a class; a detection whose class has no pixel in its box is a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from segkit.evaluation.ground_truth.base import GtImage, GtInstance
from segkit.outputs.matching import box_ious  # noqa: F401  (re-exported: matching detections and instances share it)
from segkit.plugins.mock import box_mask


@dataclass(frozen=True)
class Candidate:
    """A detection as matching sees it."""

    det_id: int
    box: tuple[float, float, float, float]  # pixel xyxy
    confidence: float | None
    category: str | None  # class-aware: the category its label maps to; None: class-agnostic

    @property
    def rank_score(self) -> float:
        return 1.0 if self.confidence is None else float(self.confidence)


@dataclass
class Match:
    det_id: int
    gt_id: int | None = None  # the instance's id in its source, or the semantic class id
    category: str | None = None  # the matched ground truth's category
    match_iou: float | None = None  # box IoU with the matched instance (None for semantic)
    best_box_iou: float | None = None  # highest box IoU with any instance (None for semantic): how near a false positive came
    mask: np.ndarray | None = None  # the matched ground-truth mask

    @property
    def matched(self) -> bool:
        return self.mask is not None


def match_instances(candidates: Sequence[Candidate], instances: Sequence[GtInstance], threshold: float) -> tuple[list[Match], list[GtInstance]]:
    """One Match per candidate (in the candidates' order) and the instances no detection matched (crowds left out)."""
    matchable = [g for g in instances if not g.crowd]
    ious = box_ious([c.box for c in candidates], [g.box for g in matchable])
    taken: set[int] = set()
    out = {c.det_id: Match(c.det_id, best_box_iou=float(ious[i].max()) if len(matchable) else None) for i, c in enumerate(candidates)}
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].rank_score, candidates[i].det_id))
    for i in order:
        cand = candidates[i]
        best, best_iou = None, threshold
        for j, gt in enumerate(matchable):
            if j in taken or (cand.category is not None and gt.category != cand.category):
                continue
            if ious[i, j] >= best_iou and (best is None or ious[i, j] > best_iou):
                best, best_iou = j, float(ious[i, j])
        if best is not None:
            taken.add(best)
            gt = matchable[best]
            out[cand.det_id] = Match(cand.det_id, gt.gt_id, gt.category, best_iou, out[cand.det_id].best_box_iou, gt.mask)
    misses = [g for j, g in enumerate(matchable) if j not in taken]
    return [out[c.det_id] for c in candidates], misses


def match_semantic(candidates: Sequence[Candidate], gt: GtImage) -> tuple[list[Match], list[int]]:
    """One Match per candidate and the classes of the image no detection is of."""
    assert gt.classes is not None
    height, width = gt.classes.shape
    by_name = {name: class_id for class_id, name in gt.class_names.items() if class_id not in gt.ignore}
    matches, used = [], set()
    for cand in candidates:
        inside = box_mask(np.asarray(cand.box), height, width)
        classes_inside = gt.classes[inside]
        if cand.category is not None:
            class_id = by_name.get(cand.category)
        else:
            counts = {int(c): int(n) for c, n in zip(*np.unique(classes_inside, return_counts=True)) if int(c) not in gt.ignore}
            class_id = max(counts, key=lambda c: (counts[c], -c)) if counts else None
        region = (gt.classes == class_id) & inside if class_id is not None else None
        if region is None or not region.any():
            matches.append(Match(cand.det_id))
            continue
        used.add(class_id)
        matches.append(Match(cand.det_id, class_id, gt.class_names.get(class_id), None, None, region))
    return matches, [c for c in gt.present_classes() if c not in used]
