"""Score an output folder against ground truth: ``evaluate_folder(out_dir, options) -> EvalResult``.

No model runs: like `segkit compare`, it reads what a run wrote (the image records ``json/<stem>.json``
and the masks they list), matches each image's detections to its ground truth, measures every
backend's masks and the boxes themselves, runs COCOeval, and writes ``OUT/eval.json``,
``OUT/eval.csv`` and a ``ground_truth`` entry on every detection of every scored image record.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pydantic import ValidationError

from segkit.config import LimitSettings
from segkit.errors import InputError
from segkit.evaluation.coco_ap import ApCollector
from segkit.evaluation.document import EvalDocument, build_document, detection_entry, save_document
from segkit.evaluation.ground_truth.base import GroundTruth, GroundTruthCoversNothing
from segkit.evaluation.ground_truth.formats import open_ground_truth
from segkit.evaluation.label_map import load_label_map
from segkit.evaluation.scoring import BASELINE, ImageEval, ScoringContext, score_image
from segkit.outputs.files import write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.lock import OutputLock
from segkit.outputs.mask_metrics import BOUNDARY_DILATION_RATIO
from segkit.outputs.reading import OutputFileError, backend_order, read_output, read_record
from segkit.outputs.records import ImageRecord

DEFAULT_IOU_MATCH = 0.5
DEFAULT_WORST = 10


@dataclass
class EvalOptions:
    gt: Path
    gt_format: str = "auto"
    gt_classes: Path | None = None  # semantic ground truth: the class-name file
    label_map: Path | None = None
    iou_match: float = DEFAULT_IOU_MATCH
    boundary_dilation_ratio: float = BOUNDARY_DILATION_RATIO
    worst: int = DEFAULT_WORST
    backends: Sequence[str] = ()  # which backends, in which order; empty: every backend in the records
    limits: LimitSettings = field(default_factory=LimitSettings)  # what reading the ground truth may cost

    def stored(self) -> dict[str, Any]:
        """The options as eval.json keeps them, paths made absolute, so a later compare can re-run them."""
        def absolute(path: Path | None) -> str | None:
            return None if path is None else str(Path(path).resolve())

        return {"gt": absolute(self.gt), "gt_format": self.gt_format, "gt_classes": absolute(self.gt_classes),
                "label_map": absolute(self.label_map), "iou_match": self.iou_match,
                "boundary_dilation_ratio": self.boundary_dilation_ratio, "worst": self.worst}

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> "EvalOptions":
        def path(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        return cls(Path(data["gt"]), str(data.get("gt_format", "auto")), path("gt_classes"), path("label_map"),
                   float(data.get("iou_match", DEFAULT_IOU_MATCH)),
                   float(data.get("boundary_dilation_ratio", BOUNDARY_DILATION_RATIO)), int(data.get("worst", DEFAULT_WORST)))


@dataclass
class EvalResult:
    document: EvalDocument  # what eval.json holds
    images: list[ImageEval]
    files: list[Path]
    records_updated: int
    seconds: float
    ground_truth: GroundTruth | None = field(default=None, repr=False)
    records: list[ImageRecord] = field(default_factory=list, repr=False)  # the records read, as rewritten (the page's)

    @property
    def problems(self) -> list[str]:
        return [i.problem for i in self.images if i.problem]

    @property
    def without_ground_truth(self) -> list[str]:
        return [i.image for i in self.images if i.no_ground_truth]


def stored_options(layout: OutputLayout) -> EvalOptions | None:
    """The options of the folder's last evaluation (eval.json), or None when there is none to re-run."""
    document = read_record(layout.eval_json_path)
    options = document.get("options") if document else None
    if not isinstance(options, dict) or not options.get("gt"):
        return None
    try:
        return EvalOptions.from_stored(options)
    except (KeyError, TypeError, ValueError):
        return None


def _image_records(layout: OutputLayout, stems: Sequence[str] | None) -> list[tuple[str, ImageRecord | None, str | None]]:
    """(stem, record or None, problem) for the images to score."""
    root = layout.root
    if stems is None:
        paths = sorted(p for p in layout.json_dir.glob("*.json") if not p.name.startswith(".")) if layout.json_dir.is_dir() else []
        if not paths:
            raise InputError(f"{root} has no image records ({layout.json_dir}/<stem>.json); run `segkit run` first, or `segkit compare` a merged folder")
    else:
        paths = [layout.json_path(stem) for stem in stems]
    out: list[tuple[str, ImageRecord | None, str | None]] = []
    for path in paths:
        stem = path.name[: -len(".json")]
        try:
            out.append((stem, ImageRecord.model_validate_json(read_output(path)), None))
        except OutputFileError as exc:
            out.append((stem, None, f"{stem}: {exc}"))
        except ValidationError as exc:
            out.append((stem, None, f"{stem}: {path} is not a segkit image record ({exc.errors()[0]['msg']});"
                                    " rebuild it with `segkit compare`"))
    return out


def evaluate_folder(
    out_dir: Path,
    options: EvalOptions,
    stems: Sequence[str] | None = None,
    on_image: Callable[[ImageEval], None] | None = None,
    workers: int | None = None,
) -> EvalResult:
    """Score the masks in ``out_dir`` (every image record, or those of ``stems``) against ground truth.

    Raises InputError / ConfigError (one line) when nothing can be scored: ground truth or label map
    unusable, or covering none of the images. Images without ground truth, or whose ground truth or
    masks cannot be used, are listed in the result and skipped; the rest is scored and written.
    """
    layout = OutputLayout(out_dir)
    if not (0.0 < options.iou_match <= 1.0):
        raise InputError(f"--iou-match {options.iou_match:g} is outside (0, 1]; COCO matches at 0.5")
    gt = open_ground_truth(options.gt, options.gt_format, options.gt_classes, options.limits)
    label_map = load_label_map(options.label_map, gt.categories, options.limits.max_config_file_bytes)
    if not layout.root.is_dir():
        raise InputError(f"{layout.root} is not a folder; pass the --out folder of a `segkit run`")
    with OutputLock(layout.root):  # no run or compare rewrites the records meanwhile
        return _evaluate(layout, options, gt, label_map, stems, on_image, workers)


def _evaluate(layout: OutputLayout, options: EvalOptions, gt: GroundTruth, label_map, stems, on_image, workers) -> EvalResult:
    started = time.perf_counter()
    out_dir = layout.root
    entries = _image_records(layout, stems)
    records = [(stem, record) for stem, record, _ in entries if record is not None]
    present = sorted({name for _, rec in records for name in (*rec.backends, *rec.failed_backends)})
    backends = backend_order(layout, present, list(options.backends)) if records else []
    if records and not any(gt.has(rec.image) for _, rec in records):
        here = ", ".join(rec.image for _, rec in records[:3]) + (", …" if len(records) > 3 else "")
        there = ", ".join(gt.sample_names()) + (", …" if gt.image_count() > 3 else "")
        raise GroundTruthCoversNothing(f"ground truth {options.gt} covers none of the {len(records)} image(s) in {out_dir} ({here});"
                         f" it has {gt.image_count()} image(s) ({there}): pass the ground truth of these images")

    ap = None if gt.format == "semantic" else ApCollector(label_map.class_aware, gt.categories)
    ctx = ScoringContext(layout, gt, label_map, backends, options.iou_match, options.boundary_dilation_ratio, ap)

    def job(item: tuple[str, ImageRecord]) -> ImageEval:
        stem, record = item
        result = score_image(stem, record, ctx)
        if on_image:
            on_image(result)
        return result

    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1), thread_name_prefix="eval") as pool:
        scored = list(pool.map(job, records))
    images = [ImageEval(stem, f"{stem}", problem=problem) for stem, record, problem in entries if record is None] + scored
    images.sort(key=lambda i: i.stem)
    if not any(i.scored for i in images):
        problems = [i.problem for i in images if i.problem] or [f"{out_dir} has no image record to score"]
        raise InputError(f"no image could be scored: {problems[0]}" + (f" (and {len(problems) - 1} more like it)" if len(problems) > 1 else ""))

    scores = {name: ap.scores(name) for name in (*backends, BASELINE)} if ap is not None else None
    header = {
        "ground_truth": {"path": str(options.gt.resolve()), "format": gt.format, "categories": gt.categories,
                         "images": gt.image_count(), "instances": _instances(images)},
        "options": options.stored(),
        "class_aware": label_map.class_aware,
        "iou_match": options.iou_match,
        "boundary_dilation_ratio": options.boundary_dilation_ratio,
    }
    concept = [name for name in backends if any(name in rec.concepts for _, rec in records)]
    document = build_document(images, backends, scores, header, options.worst, concept)
    updated = _update_records(layout, dict(records), images)
    files = save_document(layout, document)
    return EvalResult(document, images, files, updated, time.perf_counter() - started, gt, [record for _, record in records])


def _instances(images: Sequence[ImageEval]) -> int:
    """Ground-truth instances (semantic: classes present) in the scored images: matched plus missed."""
    matched = {(i.image, d.match.gt_id) for i in images if i.scored for d in i.detections if d.status == "matched"}
    return len(matched) + sum(len(i.misses) for i in images if i.scored)


def _update_records(layout: OutputLayout, records: Mapping[str, ImageRecord], images: Sequence[ImageEval]) -> int:
    """Put each detection's (and each concept backend's instance's) ``ground_truth`` entry in its image record
    (and drop stale ones); rewrite what changed."""
    updated = 0
    for image in images:
        record = records.get(image.stem)
        if record is None:
            continue
        entries = {d.det_id: detection_entry(d) for d in image.detections} if image.scored else {}
        changed = False
        for det in record.detections:
            entry = entries.get(det.id)
            if det.ground_truth != entry:
                det.ground_truth = entry
                changed = True
        for name, instances in record.instances.items():
            scored = image.concepts.get(name) if image.scored else None
            found = {d.det_id: detection_entry(d) for d in scored.instances} if scored is not None else {}
            for inst in instances:
                entry = found.get(inst.id)
                if inst.ground_truth != entry:
                    inst.ground_truth = entry
                    changed = True
        if record.preview is not None and record.preview.gt != image.gt_preview:
            record.preview.gt = image.gt_preview  # the page's ground-truth layer, at the preview's scale
            changed = True
        if changed:
            write_json(layout.json_path(image.stem), record)
            updated += 1
    return updated
