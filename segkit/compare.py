"""`segkit compare OUT`: every comparison rebuilt from the backend records and masks already in a folder.

No model runs. Each image's backend records (``backends/<backend>/<stem>.json``) and masks are read
once; the pair IoUs are computed again from the masks, and the image record ``json/<stem>.json``, the
panel and the report are rewritten. Folders written by runs with different backends (on different
machines) and merged by copying compare as if one run had used all their backends.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from segkit.artifacts import (
    OutputFileError,
    OutputLayout,
    find_backend_records,
    load_mask,
    load_record,
    read_record,
    write_jpeg,
    write_json,
)
from segkit.coco_export import CocoExport
from segkit.config import LimitSettings, VizSettings
from segkit.detections import Detection
from segkit.errors import ImageFailed, InputError
from segkit.images import load_rgb
from segkit.masks import area, pairwise_ious_by_id
from segkit.panel import render_panel
from segkit.record import RECORD_VERSION, RecordConflict, combine_records
from segkit.report import DEFAULT_IOU_THRESHOLD, DEFAULT_WORST, build_report
from segkit.segmenter import Segmentation


@dataclass
class CompareOptions:
    backends: Sequence[str] = ()  # which backends, in which order; empty: all, in the default order
    images: Path | None = None  # where the original images are, for the panels
    panels: bool = True
    coco: bool = False
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    worst: int = DEFAULT_WORST
    viz: VizSettings = field(default_factory=VizSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)


@dataclass
class ImageComparison:
    stem: str
    record: dict[str, Any] | None = None
    problem: str | None = None  # one line: the image is left out of the report
    panel: str = "none"  # "redrawn", "kept" (the existing panel, not redrawn), "none"
    image_missing: bool = False  # the panel could not be redrawn: the original image was not found


@dataclass
class CompareResult:
    backends: list[str]
    images: list[ImageComparison]
    report: dict[str, Any]
    coco_files: list[Path]
    seconds: float

    @property
    def records(self) -> list[dict[str, Any]]:
        return [i.record for i in self.images if i.record is not None]

    @property
    def problems(self) -> list[str]:
        return [i.problem for i in self.images if i.problem]

    def panels(self, status: str) -> list[str]:
        return [i.stem for i in self.images if i.record is not None and i.panel == status]

    @property
    def images_missing(self) -> list[str]:
        return [i.stem for i in self.images if i.image_missing]


def backend_order(layout: OutputLayout, found: Sequence[str], requested: Sequence[str]) -> list[str]:
    """The backends to compare: as requested, else those of the folder's last report in its order, then the rest by name."""
    if requested:
        order: list[str] = []
        for name in requested:
            if name not in found:
                listing = ", ".join(found)
                raise InputError(f"backend {name!r} has no records in {layout.backends_dir} (it has: {listing}); pass one of those to --backend")
            if name not in order:
                order.append(name)
        return order
    previous = read_record(layout.report_json_path) or {}
    listed = previous.get("backends") if isinstance(previous.get("backends"), list) else []
    order = [name for name in listed if name in found]
    return order + sorted(name for name in found if name not in order)


def check_folder(layout: OutputLayout) -> dict[str, dict[str, Path]]:
    """The backend records of a segkit output folder, or InputError saying what the folder is not."""
    root = layout.root
    if not root.exists():
        raise InputError(f"{root} does not exist; pass the --out folder of a `segkit run`")
    if not root.is_dir():
        raise InputError(f"{root} is a file; pass the --out folder of a `segkit run`")
    found = find_backend_records(layout)
    if found:
        return found
    if layout.json_dir.is_dir() and any(layout.json_dir.glob("*.json")):
        raise InputError(
            f"{root} has image records (json/) but no backend records ({layout.backends_dir}/<backend>/<stem>.json):"
            " it was written by an older segkit; run `segkit run --force` on it once with this version"
        )
    raise InputError(f"{root} is not a segkit output folder (no backend records in {layout.backends_dir}); pass the --out folder of a `segkit run`")


def compare_folder(
    root: Path,
    options: CompareOptions | None = None,
    on_image: Callable[[ImageComparison], None] | None = None,
    workers: int | None = None,
) -> CompareResult:
    """Rebuild image records, panels, the report (and COCO files) of ``root`` from what is on disk."""
    started = time.perf_counter()
    options = options or CompareOptions()
    layout = OutputLayout(root)
    found = check_folder(layout)
    if options.images is not None and not options.images.is_dir():
        raise InputError(f"--images {options.images} is not a folder; pass the folder that holds the original images")
    order = backend_order(layout, list(found), options.backends)
    stems = sorted({stem for name in order for stem in found[name]})
    coco = CocoExport() if options.coco else None
    job = _ImageJob(layout, order, found, options, coco)
    workers = workers or min(8, os.cpu_count() or 1)
    results: list[ImageComparison] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="compare") as pool:
        for outcome in pool.map(job.run, stems):
            results.append(outcome)
            if on_image:
                on_image(outcome)
    records = [r.record for r in results if r.record is not None]
    report = build_report(records, order, options.iou_threshold, options.worst)
    coco_files = coco.write(layout, order) if coco is not None else []
    return CompareResult(order, results, report, coco_files, time.perf_counter() - started)


class _ImageJob:
    """Compares one image; safe to run for several images at once."""

    def __init__(self, layout: OutputLayout, order: list[str], found: Mapping[str, Mapping[str, Path]],
                 options: CompareOptions, coco: CocoExport | None):
        self.layout = layout
        self.order = order
        self.found = found
        self.options = options
        self.coco = coco

    def run(self, stem: str) -> ImageComparison:
        outcome = ImageComparison(stem)
        try:
            self._compare(stem, outcome)
        except (OutputFileError, RecordConflict) as exc:
            outcome.problem = f"{stem}: {exc}; re-run `segkit run --force` for this image with the backends concerned, or delete its files"
            outcome.record = None
        except OSError as exc:
            outcome.problem = f"{stem}: cannot write its outputs ({exc}); check that {self.layout.root} is writable and has space"
            outcome.record = None
        except (KeyError, TypeError, ValueError) as exc:
            outcome.problem = (f"{stem}: a backend record is not what segkit writes ({type(exc).__name__}: {exc});"
                               f" check {self.layout.backends_dir}/*/{stem}.json, or delete it and re-run `segkit run`")
            outcome.record = None
        return outcome

    def _compare(self, stem: str, outcome: ImageComparison) -> None:
        layout = self.layout
        records, record_files = [], {}
        for name in self.order:
            path = self.found[name].get(stem)
            if path is None:
                continue
            record = load_record(path)
            if record.get("version") != RECORD_VERSION or record.get("backend") != name:
                raise OutputFileError(
                    f"{path} is not a version {RECORD_VERSION} backend record of {name!r}"
                    f" (version {record.get('version')!r}, backend {record.get('backend')!r})"
                )
            records.append(record)
            record_files[name] = layout.relative(path)

        stacks: dict[str, tuple[list[int], np.ndarray]] = {}
        for record in records:
            if record.get("failed"):
                continue
            size = (int(record["width"]), int(record["height"]))
            ids, masks = [], []
            for answer in record["answers"]:
                if not answer.get("mask"):
                    raise OutputFileError(f"{layout.backend_record_path(record['backend'], stem)} lists detection {answer['id']} without a mask file")
                mask = load_mask(layout.root / answer["mask"], size)
                answer["area_px"] = area(mask)  # what the mask says now, even if it was edited since the run
                ids.append(answer["id"])
                masks.append(mask)
            stacks[record["backend"]] = (ids, np.stack(masks) if masks else np.zeros((0, size[1], size[0]), bool))

        pair_ious = pairwise_ious_by_id(stacks)

        provisional = combine_records(records, pair_ious, None, record_files)  # raises when the records disagree
        panel_file = self._redraw_panel(stem, provisional, records[0], stacks, outcome) if self.options.panels else None
        if panel_file is None and layout.panel_path(stem).is_file():
            panel_file = layout.relative(layout.panel_path(stem))
            outcome.panel = "kept"
        elif panel_file is None:
            outcome.panel = "none"
        record = combine_records(records, pair_ious, panel_file, record_files)
        write_json(layout.json_path(stem), record)
        outcome.record = record
        if self.coco is not None:
            for name, (ids, masks) in stacks.items():
                self.coco.add(stem, record, name, ids, masks)

    def _redraw_panel(self, stem: str, record: dict[str, Any], first: Mapping[str, Any],
                      stacks: Mapping[str, tuple[list[int], np.ndarray]], outcome: ImageComparison) -> str | None:
        image = self._find_image(first)
        rgb = None
        if image is not None:
            try:
                rgb = load_rgb(image, self.options.limits.max_image_pixels)
            except ImageFailed:
                rgb = None
        width, height = record["width"], record["height"]
        if rgb is None or rgb.shape[:2] != (height, width):  # not found, unreadable, or another picture
            outcome.image_missing = True
            return None
        detections = [Detection(d["id"], d["label"], tuple(d["bbox_xyxy_px"]), d.get("confidence"), {})
                      for d in record["detections"]]
        position = {d.id: i for i, d in enumerate(detections)}
        results = {}
        for name, (ids, masks) in stacks.items():
            full = np.zeros((len(detections), height, width), bool)
            scores = np.zeros(len(detections))
            for k, det_id in enumerate(ids):
                full[position[det_id]] = masks[k]
            for d in record["detections"]:
                if name in d["backends"]:
                    scores[position[d["id"]]] = d["backends"][name]["score"]
            results[name] = Segmentation(full, scores)
        viz = self.options.viz
        path = self.layout.panel_path(stem)
        write_jpeg(path, render_panel(rgb, detections, results, viz, title=record["image"]), viz.jpeg_quality)
        outcome.panel = "redrawn"
        return self.layout.relative(path)

    def _find_image(self, first: Mapping[str, Any]) -> Path | None:
        candidates = []
        if self.options.images is not None:
            candidates.append(self.options.images / first["image"])
        if first.get("image_path"):
            candidates.append(Path(first["image_path"]))
        return next((p for p in candidates if p.is_file()), None)
