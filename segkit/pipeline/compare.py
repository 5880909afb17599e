"""`segkit compare OUT`: every comparison rebuilt from the backend records and masks already in a folder.

No model runs. Each image's backend records (``backends/<backend>/<stem>.json``) and masks (PNG files
or RLE in the records, mixed freely after a merge) are read once and fed to the same output stage as
`segkit run` (``image_outputs``): the pair IoUs are computed again from the masks, and the image record
``json/<stem>.json``, the panel and the report are rewritten. Folders written by runs with different
backends (on different machines) and merged by copying compare as if one run had used all of them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from segkit.config import LimitSettings, VizSettings
from segkit.errors import ImageFailed, InputError
from segkit.inputs.images import load_rgb
from segkit.outputs.agreement import DEFAULT_IOU_THRESHOLD, DEFAULT_WORST, build_report
from segkit.outputs.coco import CocoExport
from segkit.outputs.image_writer import (
    BackendOutput,
    MaskSink,
    OutputSettings,
    finish_image,
    image_path_of,
)
from segkit.outputs.layout import OutputLayout
from segkit.outputs.quality import QualitySettings
from segkit.outputs.reading import (
    OutputFileError,
    find_backend_records,
    load_answer_mask,
    load_backend_record,
    read_record,
)
from segkit.outputs.records import (
    RECORD_VERSION,
    BackendRecord,
    ImageRecord,
    RecordConflict,
)
from segkit.pipeline.image_steps import machine_cores


@dataclass
class CompareOptions:
    backends: Sequence[str] = ()  # which backends, in which order; empty: all, in the default order
    images: Path | None = None  # where the original images are, for the panels
    panels: bool = True
    coco: bool = False
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    worst: int = DEFAULT_WORST
    viz: VizSettings = field(default_factory=VizSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    panel_mode: str = "all"  # with panels: "all" or "disagree"
    limits: LimitSettings = field(default_factory=LimitSettings)
    page: bool = True  # the page's preview of each image (its picture is kept when the original is not at hand)


@dataclass
class ImageComparison:
    stem: str
    record: ImageRecord | None = None
    problem: str | None = None  # one line: the image is left out of the report
    panel: str = "none"  # "redrawn", "kept" (the existing panel, not redrawn), "skipped", "none"
    image_missing: bool = False  # the panel could not be redrawn: the original image was not found


@dataclass
class CompareResult:
    backends: list[str]
    images: list[ImageComparison]
    report: dict[str, Any]
    coco_files: list[Path]
    seconds: float

    @property
    def records(self) -> list[ImageRecord]:
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
    order = [name for name in listed if isinstance(name, str) and name in found]
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
    workers = workers or machine_cores()
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
        self.settings = OutputSettings(panels=options.panel_mode if options.panels else "none",
                                       iou_threshold=options.iou_threshold, viz=options.viz, quality=options.quality,
                                       page=options.page)

    def run(self, stem: str) -> ImageComparison:
        outcome = ImageComparison(stem)
        try:
            self._compare(stem, outcome)
        except (OutputFileError, RecordConflict) as exc:
            outcome.problem = f"{stem}: {exc}; re-run `segkit run --force` for this image with the backends concerned, or delete its files"
            outcome.record = None
        except OSError as exc:
            outcome.problem = f"{stem}: cannot write its outputs ({exc.strerror or exc}); check that {self.layout.root} is writable and has space"
            outcome.record = None
        except Exception as exc:  # anything else about one image stays with that image
            outcome.problem = (f"{stem}: a backend record is not what segkit writes ({type(exc).__name__}: {exc});"
                               f" check {self.layout.backends_dir}/*/{stem}.json, or delete it and re-run `segkit run`")
            outcome.record = None
        return outcome

    def _records(self, stem: str) -> list[tuple[BackendRecord, str]]:
        out = []
        for name in self.order:
            path = self.found[name].get(stem)
            if path is None:
                continue
            record = load_backend_record(path)
            if record.version != RECORD_VERSION or record.backend != name:
                raise OutputFileError(
                    f"{path} is not a version {RECORD_VERSION} backend record of {name!r}"
                    f" (version {record.version!r}, backend {record.backend!r})"
                )
            out.append((record, self.layout.relative(path)))
        return out

    def _compare(self, stem: str, outcome: ImageComparison) -> None:
        records = self._records(stem)
        first = records[0][0]
        rgb = None
        if self.settings.panels != "none" or (self.settings.page and not self.layout.preview_path(stem).is_file()):
            rgb = self._load_image(first, outcome)
        settings = self.settings
        outputs = []
        for record, record_file in records:
            sink = None
            if not record.failed:
                sink = MaskSink(self.layout, stem, record.backend, record.size, settings if rgb is not None else replace(settings, panels="none"),
                                write_files=False)
                prompts = {p.id: p for p in record.detections}
                for answer in record.answers:
                    mask = load_answer_mask(self.layout, answer, record.size)
                    answer.area_px = int(mask.sum())  # what the mask says now, even if it was edited since the run
                    prompt = prompts.get(answer.id)
                    if prompt is None:
                        raise OutputFileError(f"{self.layout.relative(self.layout.backend_record_path(record.backend, stem))}"
                                              f" answers detection {answer.id}, which it does not list")
                    sink.add_one(prompt.detection(), mask, answer.score, answer)
            outputs.append(BackendOutput(record, record_file, sink))
        redraw = rgb is not None
        record, panel = finish_image(self.layout, stem, outputs, settings, rgb, self.coco, redraw=redraw)
        outcome.record = record
        outcome.panel = {"drawn": "redrawn"}.get(panel, panel)

    def _load_image(self, first: BackendRecord, outcome: ImageComparison):
        image = image_path_of(first, self.options.images)
        rgb = None
        if image is not None:
            try:
                rgb = load_rgb(image, self.options.limits.max_image_pixels)
            except ImageFailed:
                rgb = None
        if rgb is None or rgb.shape[:2] != (first.height, first.width):  # not found, unreadable, or another picture
            outcome.image_missing = self.settings.panels != "none"  # the page's preview goes on without it
            return None
        return rgb

