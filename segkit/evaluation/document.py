"""eval.json and eval.csv: what `segkit eval` measured, in one documented structure.

eval.json (strict JSON, ``version`` 1; the ``definitions`` key explains every field in the file):

    version, ground_truth {path, format, categories, images, instances}, options {...}, class_aware,
    iou_match, boundary_dilation_ratio, backends [names], images (scored), images_without_ground_truth
    [file names], image_problems [{image, problem}], detections, matched, false_positives, misses,
    unmapped, per_backend [row], per_label [row + label], best {detections, counts {backend: n}},
    worst {backend: [entry]}, unmatched_detections [entry], missed_ground_truth [entry], definitions

A row (per backend, per label) holds: backend, baseline, detections, matched, no_answer, mean_iou,
median_iou, mean_boundary_iou, median_boundary_iou, under_50, fraction_under_50, under_75,
fraction_under_75, ap, ap50, ap75, false_positives, misses, best, worse_than_box. The box baseline is
the row with ``baseline: true`` (backend "box"). Numbers are rounded to 6 digits; null means "cannot be
measured here" (no matched detection, AP of semantic ground truth, misses per detector label).

A concept backend (``score_concepts`` in segkit.evaluation.scoring) is matched on its own instances: its rows count
instances where the others count detections, and its own false positives and misses; eval.json then
also has ``concept_backends`` [names] and ``concept_details`` {backend: {unmatched_instances,
missed_ground_truth}}, and its ``worst`` entries name an ``instance`` instead of a ``detection``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from segkit.evaluation.coco_ap import ApScores
from segkit.evaluation.metrics import (
    best_counts,
    measure_of,
    measure_stats,
    r,
    worse_than_box,
    worst,
)
from segkit.evaluation.scoring import BASELINE, DetectionEval, ImageEval, Miss
from segkit.outputs.files import write_csv, write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.records import GroundTruthScores, MaskScore

EVAL_VERSION = 1

DEFINITIONS = {
    "ground_truth": "the ground truth scored against: path (absolute), format (coco, instance-pngs, semantic), categories (null: the source has none), images (how many images it covers), instances (ground-truth instances, or semantic classes present, in the scored images)",
    "options": "the options of this evaluation; `segkit compare` and `segkit run` re-run the evaluation with them after they rewrite the image records",
    "class_aware": "true with a label map: a detection only matches ground truth of the category its label maps to, and per-label rows are per category; false: any category matches and per-label rows are per detector label",
    "iou_match": "a detection matches a ground-truth instance when their boxes overlap by at least this IoU; one-to-one, highest-confidence detections first (as COCO), the instance's box being its mask's extent. Semantic ground truth: a detection matches the region of its class inside its box",
    "boundary_dilation_ratio": "boundary IoU (Cheng et al. 2021) compares the bands of pixels within d of each mask's contour, d = this ratio times the image diagonal, rounded, at least 1 pixel",
    "images": "images scored: they have image records and ground truth that could be read",
    "images_without_ground_truth": "images of the output folder the ground truth does not cover: listed and skipped",
    "image_problems": "images whose ground truth or masks could not be used (bad polygon, wrong size, unreadable mask): skipped, one line each",
    "detections": "detections in the scored images, unmapped ones left out",
    "matched": "detections matched to ground truth (the same for every backend: matching uses the detection boxes)",
    "false_positives": "detections that matched no ground truth",
    "misses": "ground-truth instances (semantic: classes present in an image) that no detection matched; crowd regions are not counted",
    "unmapped": "detections whose label the label map does not name (or maps to null): left out of matching, the statistics and AP",
    "per_backend": "one row per backend in the order of `backends`, then the box baseline (baseline: true, backend 'box'): each detection's box filled as a mask. A segmenter whose row is below the box's does worse than drawing the box",
    "per_label": "the same rows per label (with a label map: per ground-truth category, including categories only missed; else per detector label, misses null), backends then the baseline",
    "no_answer": "matched detections the backend has no mask for (it failed on the image, or a merged folder where it did not run)",
    "matched_row": "in a row, `matched` counts the matched detections the backend answered; the IoU statistics are over those",
    "mean_iou": "mean over matched detections of the mask IoU with the matched ground truth (median_iou likewise); IoU of two empty masks is 1.0",
    "mean_boundary_iou": "mean over matched detections of the boundary IoU with the matched ground truth (median_boundary_iou likewise)",
    "under_50": "matched detections whose mask IoU is strictly below 0.5 (under_75: below 0.75); fraction_under_*: their share of matched",
    "ap": "COCOeval 'segm' mask AP (IoU 0.50:0.95, area all) over every detection of the scored images, matched or not; ap50, ap75 at IoU 0.5 and 0.75. Score = the backend's mask score times the detection's confidence (1.0 when the detector gave none); the baseline's score is the confidence. useCats is off unless class_aware. Per label: class-aware only. null: no ground-truth instance to find, or semantic ground truth (no instances)",
    "best": "over matched detections: how many times each backend's mask has the highest IoU with ground truth among the backends that answered; k tied backends (equal to 6 digits) get 1/k each. In a row: that backend's count",
    "worse_than_box": "matched detections where the backend's mask IoU is below the box baseline's",
    "worst": "per backend, its matched detections with the lowest IoU, lowest first: image, detection id, label, category and gt_id of the matched ground truth, iou, boundary_iou, baseline_iou (the box's IoU), panel (viz image to open), mask file",
    "unmatched_detections": "false positives: image, detection, label, confidence, best_box_iou (the highest box IoU with any ground-truth instance: how close it came; null for semantic)",
    "missed_ground_truth": "misses: image, gt_id (COCO annotation id, instance PNG id, or semantic class id), category, bbox_xyxy_px (null for a semantic class)",
    "gt_id": "the ground truth's own id: the COCO annotation id, k of <stem>_<k>.png or the pixel value of an indexed PNG, or the semantic class id",
}

CONCEPT_DEFINITIONS = {
    "concept_backends": "backends that find every instance of a concept themselves (phrases or exemplar boxes in): each is scored as a detector and segmenter in one. Its instances, ranked by their own scores, are matched to ground truth exactly as detections are (iou_match, one-to-one, class-aware with a label map); in its rows detections counts its instances, matched its matched instances (the IoU statistics are over those), false_positives its unmatched instances, misses the ground truth none of its instances matched; AP scores every instance with its own score. best and worse_than_box do not apply (null)",
    "concept_details": "per concept backend: unmatched_instances (its false positives: image, instance, label, score, best_box_iou) and missed_ground_truth (image, gt_id, category, bbox_xyxy_px)",
}

ROW_FIELDS = ("detections", "matched", "no_answer", "mean_iou", "median_iou", "mean_boundary_iou", "median_boundary_iou",
              "under_50", "fraction_under_50", "under_75", "fraction_under_75", "ap", "ap50", "ap75",
              "false_positives", "misses", "best", "worse_than_box")
CSV_HEADER = ("scope", "label", "backend", "baseline", *ROW_FIELDS)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer segkit's eval.json read by this one keeps its fields


class EvalRow(_Doc):
    """A row of per_backend (no label) or per_label."""

    label: str | None = None
    backend: str
    baseline: bool
    detections: int
    matched: int
    no_answer: int
    mean_iou: float | None = None
    median_iou: float | None = None
    mean_boundary_iou: float | None = None
    median_boundary_iou: float | None = None
    under_50: int | None = None
    fraction_under_50: float | None = None
    under_75: int | None = None
    fraction_under_75: float | None = None
    ap: float | None = None
    ap50: float | None = None
    ap75: float | None = None
    false_positives: int | None = None
    misses: int | None = None
    best: float | None = None
    worse_than_box: int | None = None

    @model_serializer(mode="wrap")
    def _label_only_per_label(self, handler):
        data = handler(self)
        if data.get("label") is None:
            data.pop("label", None)
        return data


class GroundTruthSource(_Doc):
    path: str
    format: str
    categories: list[str] | None = None
    images: int
    instances: int


class EvalDocument(_Doc):
    """eval.json (see the module docstring; its ``definitions`` explain every field)."""

    version: int = EVAL_VERSION
    ground_truth: GroundTruthSource
    options: dict[str, Any] = Field(default_factory=dict)
    class_aware: bool = False
    iou_match: float
    boundary_dilation_ratio: float
    backends: list[str] = Field(default_factory=list)
    images: int = 0
    images_without_ground_truth: list[str] = Field(default_factory=list)
    image_problems: list[dict[str, Any]] = Field(default_factory=list)
    detections: int = 0
    matched: int = 0
    false_positives: int = 0
    misses: int = 0
    unmapped: int = 0
    per_backend: list[EvalRow] = Field(default_factory=list)
    per_label: list[EvalRow] = Field(default_factory=list)
    best: dict[str, Any] = Field(default_factory=dict)
    worst: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    unmatched_detections: list[dict[str, Any]] = Field(default_factory=list)
    missed_ground_truth: list[dict[str, Any]] = Field(default_factory=list)
    concept_backends: list[str] = Field(default_factory=list)
    concept_details: dict[str, dict[str, list[dict[str, Any]]]] = Field(default_factory=dict)
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))

    @model_serializer(mode="wrap")
    def _drop_absent_concepts(self, handler):  # an evaluation without concept backends keeps its JSON
        data = handler(self)
        for key in ("concept_backends", "concept_details"):
            if not data.get(key):
                data.pop(key, None)
        return data

    def row(self, backend: str) -> EvalRow | None:
        return next((r for r in self.per_backend if r.backend == backend), None)


def row(name: str, dets: Sequence[DetectionEval], *, baseline: bool, ap: ApScores | None, false_positives: int,
        misses: int | None, best: float | None) -> dict[str, Any]:
    matched = [d for d in dets if d.status == "matched"]
    measures = [m for m in (measure_of(d, name, baseline) for d in matched) if m is not None]
    return {
        "backend": name,
        "baseline": baseline,
        "detections": len(dets),
        **measure_stats(measures),
        "no_answer": len(matched) - len(measures),
        "ap": r(ap.ap) if ap else None,
        "ap50": r(ap.ap50) if ap else None,
        "ap75": r(ap.ap75) if ap else None,
        "false_positives": false_positives,
        "misses": misses,
        "best": best,
        "worse_than_box": None if baseline else worse_than_box(matched, name),
    }


def _ordered(entry: Mapping[str, Any], lead: Sequence[str]) -> dict[str, Any]:
    keys = [*lead, "backend", "baseline", *ROW_FIELDS]
    return {k: entry[k] for k in keys}


def build_document(images: Sequence[ImageEval], backends: Sequence[str], ap: Mapping[str, ApScores] | None,
                   header: Mapping[str, Any], worst_limit: int, concept: Sequence[str] = ()) -> EvalDocument:
    """eval.json from the scored images; ``header`` holds ground_truth, options, class_aware and the thresholds;
    ``concept``: the backends among ``backends`` scored on their own instances."""
    scored = [i for i in images if i.scored]
    dets = [d for i in scored for d in i.detections if d.status != "unmapped"]
    unmapped = [d for i in scored for d in i.detections if d.status == "unmapped"]
    misses = [m for i in scored for m in i.misses]
    false_positives = [d for d in dets if d.status == "false_positive"]
    class_aware = bool(header["class_aware"])
    boxed = [b for b in backends if b not in concept]
    considered, best = best_counts([d for d in dets if d.status == "matched"], boxed)
    own = {name: _concept_parts(scored, name) for name in backends if name in concept}  # name -> (instances, misses)

    per_backend = []
    for name, baseline in [*((b, False) for b in backends), (BASELINE, True)]:
        if name in own:
            per_backend.append(_ordered(_concept_row(name, *own[name], ap=(ap or {}).get(name)), ()))
            continue
        per_backend.append(_ordered(row(name, dets, baseline=baseline, ap=(ap or {}).get(name), false_positives=len(false_positives),
                                        misses=len(misses), best=None if baseline else best[name]), ()))

    per_label = []
    keys = {d.key for d in dets} | ({m.category for m in misses if m.category is not None} if class_aware else set())
    concept_keys = {name: {d.key for d in found} | ({m.category for m in lost if m.category is not None} if class_aware else set())
                    for name, (found, lost) in own.items()}
    for key in sorted(keys.union(*concept_keys.values())):
        group = [d for d in dets if d.key == key]
        _, group_best = best_counts([d for d in group if d.status == "matched"], boxed)
        group_fp = sum(1 for d in group if d.status == "false_positive")
        group_misses = sum(1 for m in misses if m.category == key) if class_aware else None
        for name, baseline in [*((b, False) for b in backends), (BASELINE, True)]:
            scores = (ap or {}).get(name)
            label_ap = scores.per_category.get(key) if (scores and class_aware) else None
            if name in own:
                if key in concept_keys[name]:
                    found, lost = own[name]
                    entry = _concept_row(name, [d for d in found if d.key == key],
                                         [m for m in lost if m.category == key] if class_aware else None, ap=label_ap)
                    per_label.append(_ordered({"label": key, **entry}, ("label",)))
                continue
            if key not in keys:
                continue
            entry = row(name, group, baseline=baseline, ap=label_ap, false_positives=group_fp, misses=group_misses,
                        best=None if baseline else group_best[name])
            per_label.append(_ordered({"label": key, **entry}, ("label",)))

    return EvalDocument.model_validate({
        "version": EVAL_VERSION,
        **header,
        "backends": list(backends),
        "images": len(scored),
        "images_without_ground_truth": [i.image for i in images if i.no_ground_truth],
        "image_problems": [{"image": i.image, "problem": i.problem} for i in images if i.problem],
        "detections": len(dets),
        "matched": sum(1 for d in dets if d.status == "matched"),
        "false_positives": len(false_positives),
        "misses": len(misses),
        "unmapped": len(unmapped),
        "per_backend": per_backend,
        "per_label": per_label,
        "best": {"detections": considered, "counts": best},
        "worst": {name: _instance_worst(own[name][0], name, worst_limit) if name in own else worst(dets, name, worst_limit)
                  for name in backends},
        "unmatched_detections": [
            {"image": d.image, "detection": d.det_id, "label": d.label, "confidence": d.confidence,
             "best_box_iou": r(d.match.best_box_iou)} for d in false_positives
        ],
        "missed_ground_truth": [_miss(m) for m in misses],
        "concept_backends": list(own),
        "concept_details": {name: {"unmatched_instances": [
            {"image": d.image, "instance": d.det_id, "label": d.label, "score": r(d.confidence), "best_box_iou": r(d.match.best_box_iou)}
            for d in found if d.status == "false_positive"], "missed_ground_truth": [_miss(m) for m in lost]}
            for name, (found, lost) in own.items()},
        "definitions": {**DEFINITIONS, **(CONCEPT_DEFINITIONS if own else {})},
    })


def _concept_parts(scored: Sequence[ImageEval], name: str) -> tuple[list[DetectionEval], list[Miss]]:
    """A concept backend's scored instances (unmapped ones left out) and misses, over the images it answered."""
    found = [d for i in scored if name in i.concepts for d in i.concepts[name].instances if d.status != "unmapped"]
    return found, [m for i in scored if name in i.concepts for m in i.concepts[name].misses]


def _concept_row(name: str, found: Sequence[DetectionEval], lost: Sequence[Miss] | None, ap: ApScores | None) -> dict[str, Any]:
    """A concept backend's row: its instances in place of the detections, its own false positives and misses."""
    entry = row(name, found, baseline=False, ap=ap, false_positives=sum(1 for d in found if d.status == "false_positive"),
                misses=None if lost is None else len(lost), best=None)
    entry["worse_than_box"] = None
    return entry


def _instance_worst(found: Sequence[DetectionEval], name: str, limit: int) -> list[dict[str, Any]]:
    """A concept backend's worst matched instances: as ``worst``, naming the instance."""
    out = []
    for entry in worst(found, name, limit):
        entry = {"instance" if k == "detection" else k: v for k, v in entry.items()}
        entry["baseline_iou"] = None
        out.append(entry)
    return out


def _miss(miss: Miss) -> dict[str, Any]:
    box = [r(v, 3) for v in miss.box] if miss.box is not None else None
    return {"image": miss.image, "gt_id": miss.gt_id, "category": miss.category, "bbox_xyxy_px": box}


def detection_entry(det: DetectionEval) -> GroundTruthScores:
    """The ``ground_truth`` entry of a detection in its image record (json/<stem>.json)."""
    match = det.match
    return GroundTruthScores(
        status=det.status,
        gt_id=match.gt_id,
        category=match.category,
        match_iou=r(match.match_iou),
        backends={name: MaskScore(iou=r(m.iou), boundary_iou=r(m.boundary_iou)) for name, m in det.backends.items()},
        box=MaskScore(iou=r(det.box.iou), boundary_iou=r(det.box.boundary_iou)) if det.box is not None else None,
    )


def csv_rows(document: EvalDocument | Mapping[str, Any]) -> list[list[Any]]:
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json")
    rows = []
    for scope, entries in (("backend", document["per_backend"]), ("label", document["per_label"])):
        for entry in entries:
            rows.append([scope, entry.get("label"), entry["backend"], "true" if entry["baseline"] else "false",
                         *(entry[f] for f in ROW_FIELDS)])
    return rows


def save_document(layout: OutputLayout, document: EvalDocument) -> list[Path]:
    """Write OUT/eval.json and OUT/eval.csv (atomically); return their paths."""
    write_json(layout.eval_json_path, document)
    write_csv(layout.eval_csv_path, CSV_HEADER, csv_rows(document))
    return [layout.eval_json_path, layout.eval_csv_path]
