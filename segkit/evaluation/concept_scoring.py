"""A concept backend scored against ground truth as a detector and segmenter in one.

A box backend is scored on the detector's boxes: the detections are matched to ground truth once, and
each backend's mask of a matched detection is measured. A concept backend found its own instances, so it
is matched on its own: its instances (their boxes, ranked by their scores) take the place of the
detections in the same matching (``segkit.evaluation.matching``: one-to-one by box IoU, highest score
first, class-aware with a label map), each matched instance's mask is measured against its ground truth
(mask IoU, boundary IoU), unmatched instances are its false positives, unmatched ground truth its misses,
and every instance goes to COCOeval with its own score. So its row in eval.json sits beside the box
backends' rows and reads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from segkit.evaluation.ground_truth.base import GtImage
from segkit.evaluation.label_map import UNMAPPED
from segkit.evaluation.matching import Candidate, Match, match_instances, match_semantic
from segkit.outputs.mask_metrics import boundary_iou, iou
from segkit.outputs.reading import load_instance_mask
from segkit.outputs.records import BackendRecord, ImageRecord

if TYPE_CHECKING:
    from segkit.evaluation.scoring import DetectionEval, Miss, ScoringContext


@dataclass
class ConceptEval:
    """One concept backend on one image: its instances scored (``det_id`` is the instance id), its misses."""

    instances: list["DetectionEval"] = field(default_factory=list)
    misses: list["Miss"] = field(default_factory=list)


def score_concepts(name: str, backend: BackendRecord, record: ImageRecord, gt: GtImage, size: tuple[int, int],
                   ctx: "ScoringContext") -> tuple[ConceptEval, list[tuple[np.ndarray, float, str | None]]]:
    """The backend's instances on one image scored, and what they give COCOeval: (mask, score, category)."""
    from segkit.evaluation.scoring import DetectionEval, Measure, Miss

    image = record.image
    out = ConceptEval()
    candidates, evals = [], {}
    for inst in backend.instances:
        category = None
        if ctx.label_map.class_aware:
            mapped = ctx.label_map.category(inst.label)
            if mapped is UNMAPPED or mapped is None:
                evals[inst.id] = DetectionEval(image, inst.id, inst.label, inst.label, inst.score, "unmapped", Match(inst.id))
                continue
            category = str(mapped)
        candidates.append(Candidate(inst.id, tuple(inst.bbox_xyxy_px), inst.score, category))  # type: ignore[arg-type]
    if gt.semantic:
        matches, missed_classes = match_semantic(candidates, gt)
        out.misses = [Miss(image, c, gt.class_names.get(c), None) for c in missed_classes]
    else:
        matches, missed = match_instances(candidates, gt.instances, ctx.iou_match)
        out.misses = [Miss(image, g.gt_id, g.category, g.box) for g in missed]

    by_id = {inst.id: inst for inst in backend.instances}
    ap: list[tuple[np.ndarray, float, str | None]] = []
    for cand, match in zip(candidates, matches):
        inst = by_id[cand.det_id]
        key = cand.category if cand.category is not None else inst.label
        item = DetectionEval(image, inst.id, inst.label, key, inst.score, "matched" if match.matched else "false_positive",
                             match, panel=record.panel, masks={name: inst.mask})
        mask = load_instance_mask(ctx.layout, inst, size)
        ap.append((mask, inst.score, cand.category))
        if match.mask is not None:
            item.backends[name] = Measure(iou(mask, match.mask), boundary_iou(mask, match.mask, ctx.dilation_ratio))
        evals[inst.id] = item
    out.instances = [evals[inst.id] for inst in backend.instances]
    return out, ap
