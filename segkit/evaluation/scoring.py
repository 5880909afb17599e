"""One image scored against its ground truth: match its detections, then measure each backend's mask
(and the detection box itself, the baseline) against the matched ground truth.

The image record (``json/<stem>.json``) gives the detections and the panel; each backend's masks and
scores come from its backend record (``backends/<backend>/<stem>.json``), whatever the masks' storage
(PNG files or RLE in the record), through ``artifacts.load_answer_mask``.

A concept backend found its own instances, so it is matched on its own (``score_concepts``): its
instances (their boxes, ranked by their scores) take the place of the detections in the same matching
(one-to-one by box IoU, highest score first, class-aware with a label map), each matched instance's mask
is measured against its ground truth, unmatched instances are its false positives, unmatched ground
truth its misses, and every instance goes to COCOeval with its own score. So its row in eval.json sits
beside the box backends' rows and reads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from segkit.evaluation.coco_ap import ApCollector
from segkit.evaluation.ground_truth.base import GroundTruth, GroundTruthProblem, GtImage
from segkit.evaluation.label_map import UNMAPPED, LabelMap
from segkit.evaluation.matching import Candidate, Match, match_instances, match_semantic
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import boundary_iou, iou
from segkit.outputs.previews import geometry_of, preview_mask
from segkit.outputs.reading import (
    OutputFileError,
    load_answer_mask,
    load_backend_record,
    load_instance_mask,
)
from segkit.outputs.records import Answer, BackendRecord, ImageRecord, PreviewMask
from segkit.plugins.mock import box_mask

BASELINE = "box"  # the detection box filled, scored like a backend


@dataclass(frozen=True)
class Measure:
    iou: float
    boundary_iou: float


@dataclass
class DetectionEval:
    image: str
    det_id: int
    label: str
    key: str  # what per-label results group by: the category with a label map, else the detector label
    confidence: float | None
    status: str  # "matched", "false_positive", "unmapped"
    match: Match
    backends: dict[str, Measure] = field(default_factory=dict)  # matched only
    box: Measure | None = None  # matched only
    panel: str | None = None
    masks: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Miss:
    image: str
    gt_id: int
    category: str | None
    box: tuple[float, float, float, float] | None  # None for a semantic class


@dataclass
class ConceptEval:
    """One concept backend on one image: its instances scored (``det_id`` is the instance id), its misses."""

    instances: list[DetectionEval] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)


@dataclass
class ImageEval:
    stem: str
    image: str
    detections: list[DetectionEval] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    no_ground_truth: bool = False
    problem: str | None = None
    concepts: dict[str, ConceptEval] = field(default_factory=dict)  # per concept backend: its own instances scored
    gt_preview: list[PreviewMask] | None = None  # the ground truth at the record's preview scale, for the page

    @property
    def scored(self) -> bool:
        return not self.no_ground_truth and self.problem is None


@dataclass
class ScoringContext:
    layout: OutputLayout
    gt: GroundTruth
    label_map: LabelMap
    backends: Sequence[str]
    iou_match: float
    dilation_ratio: float
    ap: ApCollector | None  # None for semantic ground truth: AP needs instances


def score_image(stem: str, record: ImageRecord, ctx: ScoringContext) -> ImageEval:
    out = ImageEval(stem, record.image)
    if not ctx.gt.has(record.image):
        out.no_ground_truth = True
        return out
    size = (record.width, record.height)
    try:
        gt = ctx.gt.load(record.image, size)
        _score(out, stem, record, gt, size, ctx)
        out.gt_preview = _gt_preview(record, gt)
    except GroundTruthProblem as exc:
        out.problem = f"{record.image}: {exc}"
    except OutputFileError as exc:
        out.problem = f"{record.image}: {exc}; re-run `segkit run --force` for this image, or `segkit compare` the folder"
    return out


def _answers(stem: str, record: ImageRecord, ctx: ScoringContext,
             concept: dict[str, BackendRecord] | None = None) -> dict[str, dict[int, Answer]]:
    """Each scored backend's answers for the image, by detection id (none for a backend that failed on it);
    a concept backend's record goes to ``concept`` instead."""
    out: dict[str, dict[int, Answer]] = {}
    for name in ctx.backends:
        if name not in record.backends:
            continue
        backend = load_backend_record(ctx.layout.backend_record_path(name, stem))
        if backend.size != (record.width, record.height):
            raise OutputFileError(f"{ctx.layout.backend_record_path(name, stem)} is of a {backend.width}x{backend.height} image,"
                                  f" {ctx.layout.json_path(stem)} of a {record.width}x{record.height} one")
        if backend.kind == "concept" and concept is not None:
            concept[name] = backend
            continue
        out[name] = {a.id: a for a in backend.answers}
    return out


def _score(out: ImageEval, stem: str, record: ImageRecord, gt: GtImage, size: tuple[int, int], ctx: ScoringContext) -> None:
    width, height = size
    concept: dict[str, BackendRecord] = {}
    answers = _answers(stem, record, ctx, concept)
    candidates, evals = [], {}
    for det in record.detections:
        category = None
        if ctx.label_map.class_aware:
            mapped = ctx.label_map.category(det.label)
            if mapped is UNMAPPED or mapped is None:
                evals[det.id] = DetectionEval(out.image, det.id, det.label, det.label, det.confidence, "unmapped", Match(det.id))
                continue
            category = str(mapped)
        candidates.append(Candidate(det.id, tuple(det.bbox_xyxy_px), det.confidence, category))  # type: ignore[arg-type]

    if gt.semantic:
        matches, missed_classes = match_semantic(candidates, gt)
        out.misses = [Miss(out.image, c, gt.class_names.get(c), None) for c in missed_classes]
    else:
        matches, missed = match_instances(candidates, gt.instances, ctx.iou_match)
        out.misses = [Miss(out.image, g.gt_id, g.category, g.box) for g in missed]

    labels = {d.id: d.label for d in record.detections}
    ap_dets: dict[str, list[tuple[np.ndarray, float, str | None]]] = {name: [] for name in (*ctx.backends, BASELINE)}
    for cand, match in zip(candidates, matches):
        label = labels[cand.det_id]
        key = cand.category if cand.category is not None else label
        item = DetectionEval(out.image, cand.det_id, label, key, cand.confidence,
                             "matched" if match.matched else "false_positive", match, panel=record.panel)
        confidence = cand.rank_score
        box = box_mask(np.asarray(cand.box), height, width)
        for name, by_id in answers.items():
            answer = by_id.get(cand.det_id)
            if answer is None:
                continue  # the backend was not given this detection (a merged run with another --conf)
            mask = load_answer_mask(ctx.layout, answer, size)
            item.masks[name] = answer.mask
            ap_dets[name].append((mask, answer.score * confidence, cand.category))
            if match.mask is not None:
                item.backends[name] = Measure(iou(mask, match.mask), boundary_iou(mask, match.mask, ctx.dilation_ratio))
        ap_dets[BASELINE].append((box, confidence, cand.category))
        if match.mask is not None:
            item.box = Measure(iou(box, match.mask), boundary_iou(box, match.mask, ctx.dilation_ratio))
        evals[cand.det_id] = item
    out.detections = [evals[d.id] for d in record.detections]
    for name, backend in concept.items():
        out.concepts[name], ap_dets[name] = score_concepts(name, backend, record, gt, size, ctx)
    if ctx.ap is not None:
        ctx.ap.add_image(size, [(g.mask, g.category, g.crowd) for g in gt.instances], ap_dets)


def score_concepts(name: str, backend: BackendRecord, record: ImageRecord, gt: GtImage, size: tuple[int, int],
                   ctx: ScoringContext) -> tuple[ConceptEval, list[tuple[np.ndarray, float, str | None]]]:
    """A concept backend's instances on one image scored, and what they give COCOeval: (mask, score, category)."""
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


def _gt_preview(record: ImageRecord, gt: GtImage) -> list[PreviewMask] | None:
    """Every ground-truth instance (semantic: every class present) at the scale of the record's preview,
    while the masks are in memory: the page shows them from the record alone. None without a preview."""
    if record.preview is None:
        return None
    geometry = geometry_of(record.preview, record.width, record.height)
    if gt.semantic:
        assert gt.classes is not None
        masks = [gt.classes == c for c in gt.present_classes()]
    else:
        masks = [g.mask for g in gt.instances]
    return [p for p in (preview_mask(m, None, geometry) for m in masks) if p is not None]
