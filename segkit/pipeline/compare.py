"""`segkit compare OUT` as a library call: every comparison rebuilt from the backend records and masks
already in a folder (``compare_job(CompareJob(out=...))``).

No model runs. Each image's backend records (``backends/<backend>/<stem>.json``) and masks (PNG files
or RLE in the records, mixed freely after a merge) are read once and fed to the same output stage as
`segkit run` (``image_outputs``): the pair IoUs are computed again from the masks, and the image record
``json/<stem>.json``, the panel and the report are rewritten. Folders written by runs with different
backends (on different machines) and merged by copying compare as if one run had used all of them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field

from segkit.config import LimitSettings, PanelMode, QualitySettings, VizSettings
from segkit.errors import ImageFailed, InputError, OutputWriteError, SegkitError
from segkit.evaluation.folder import EvalResult
from segkit.inputs.images import load_rgb
from segkit.machine import machine_cores
from segkit.outputs.agreement import (
    DEFAULT_IOU_THRESHOLD,
    DEFAULT_WORST,
    AgreementReport,
    AgreementTally,
    save_report,
)
from segkit.outputs.coco import CocoExport
from segkit.outputs.files import remove_stale_temp_files
from segkit.outputs.image_writer import (
    BackendOutput,
    MaskSink,
    OutputSettings,
    finish_image,
    image_path_of,
)
from segkit.outputs.instances import InstanceSink
from segkit.outputs.layout import OutputLayout
from segkit.outputs.lock import OutputLock
from segkit.outputs.reading import (
    OutputFileError,
    backend_order,
    find_backend_records,
    load_answer_mask,
    load_backend_record,
    load_instance_mask,
)
from segkit.outputs.records import (
    RECORD_VERSION,
    BackendRecord,
    ImageRecord,
    RecordConflict,
)
from segkit.pipeline.bounded import bounded_map_ordered
from segkit.pipeline.evaluate import score_again
from segkit.pipeline.events import RunEvents
from segkit.html_report.page_writer import PageWriter
from segkit.pipeline.page import publish_page


class CompareJob(BaseModel):
    """Everything one `segkit compare` needs, already resolved."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    backends: list[str] = Field(default_factory=list)  # which, in which order; empty: all, in the default order
    images: Optional[Path] = None  # where the original images are, for the panels
    panels: bool = True
    panel_mode: PanelMode = "all"  # with panels: "all" or "disagree"
    coco: bool = False
    iou_threshold: float = Field(DEFAULT_IOU_THRESHOLD, ge=0.0, le=1.0)
    worst: int = Field(DEFAULT_WORST, ge=0)
    html: bool = True
    viz: VizSettings = Field(default_factory=VizSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)


@dataclass
class ImageComparison:
    stem: str
    record: ImageRecord | None = None
    problem: str | None = None  # one line: the image is left out of the report
    panel: str = "none"  # "redrawn", "kept" (the existing panel, not redrawn), "skipped", "none"
    image_missing: bool = False  # the panel could not be redrawn: the original image was not found
    compared: bool = False  # its record was rewritten (and went into the report)


@dataclass
class CompareResult:
    backends: list[str]
    images: list[ImageComparison]
    report: AgreementReport
    files: list[Path]  # report.json, report.csv, COCO files
    seconds: float
    evaluation: EvalResult | None = None  # the folder's last evaluation, re-run on the new records
    evaluation_error: SegkitError | None = None
    page: Path | None = None

    @property
    def problems(self) -> list[str]:
        return [i.problem for i in self.images if i.problem]

    def panels(self, status: str) -> list[str]:
        return [i.stem for i in self.images if i.compared and i.panel == status]

    @property
    def compared(self) -> int:
        return sum(1 for i in self.images if i.compared)

    @property
    def images_missing(self) -> list[str]:
        return [i.stem for i in self.images if i.image_missing]

    @property
    def exit_code(self) -> int:
        """1 when some image could not be compared or scored; the scoring's own code when it could not run."""
        if self.problems:
            return 1
        if self.evaluation_error is not None:
            return self.evaluation_error.exit_code
        return 1 if self.evaluation is not None and self.evaluation.problems else 0


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


def compare_job(job: CompareJob, events: RunEvents | None = None,
                on_image: Callable[[ImageComparison], None] | None = None, workers: int | None = None) -> CompareResult:
    """Rebuild image records, panels, the report (and COCO files) of ``job.out`` from what is on disk, re-run
    the folder's last evaluation, and rewrite its page. Raises SegkitError (one line) when the folder is
    not one segkit wrote, or the report cannot be written."""
    started = time.perf_counter()
    events = events or RunEvents()
    layout = OutputLayout(job.out)
    found = check_folder(layout)
    if job.images is not None and not job.images.is_dir():
        raise InputError(f"--images {job.images} is not a folder; pass the folder that holds the original images")
    order = backend_order(layout, list(found), job.backends)
    stems = sorted({stem for name in order for stem in found[name]})
    coco = CocoExport() if job.coco else None
    tally = AgreementTally(order, job.iou_threshold, job.worst)
    page = PageWriter(layout.root) if job.html else None  # fed each rebuilt record as it comes
    results: list[ImageComparison] = []
    with OutputLock(layout.root):
        remove_stale_temp_files(layout)
        one = _ImageJob(layout, order, found, job, coco)
        with ThreadPoolExecutor(workers or machine_cores(), thread_name_prefix="compare") as pool:
            for outcome in bounded_map_ordered(pool, one.run, stems, 4 * (workers or machine_cores())):
                if outcome.record is not None:
                    tally.add(outcome.record)
                    if page is not None:
                        page.add(outcome.record)
                    outcome.record, outcome.compared = None, True
                results.append(outcome)
                if on_image:
                    on_image(outcome)
        report = tally.report()
        try:
            files = save_report(layout, report) + (coco.write(layout, order) if coco is not None else [])
        except OSError as exc:
            raise OutputWriteError(f"cannot write the report in {layout.root} ({exc.strerror or exc}); free some space or"
                                   " make the folder writable") from exc
    result = CompareResult(order, results, report, files, time.perf_counter() - started)
    try:
        result.evaluation = score_again(layout.root, None, events, backends=order, limits=job.limits)  # keeps eval.json current
    except SegkitError as exc:
        result.evaluation_error = exc
    if page is not None:
        if result.evaluation is not None:  # the scoring rewrote the records: the page takes them from it
            page = PageWriter(layout.root)
            for record in result.evaluation.records:
                page.add(record)
        result.page = publish_page(layout.root, events, page, report, result.evaluation)
    return result


class _ImageJob:
    """Compares one image; safe to run for several images at once."""

    def __init__(self, layout: OutputLayout, order: list[str], found: Mapping[str, Mapping[str, Path]],
                 options: CompareJob, coco: CocoExport | None):
        self.layout = layout
        self.order = order
        self.found = found
        self.options = options
        self.coco = coco
        self.settings = OutputSettings(panels=options.panel_mode if options.panels else "none",
                                       iou_threshold=options.iou_threshold, viz=options.viz, quality=options.quality,
                                       page=options.html)

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
            if record.kind == "concept":
                outputs.append(BackendOutput(record, record_file, instances=None if record.failed else
                                             self._instances(stem, record, settings if rgb is not None else replace(settings, panels="none"))))
                continue
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

    def _instances(self, stem: str, record: BackendRecord, settings: OutputSettings) -> InstanceSink:
        """A concept backend's instances read back, paired with the detections as its run recorded."""
        sink = InstanceSink(self.layout, stem, record.backend, record.size, settings,
                            [c.concept() for c in record.concepts], write_files=False)
        known = {p.id for p in record.detections}
        for instance in record.instances:
            if instance.detection is not None and instance.detection not in known:
                raise OutputFileError(f"{self.layout.relative(self.layout.backend_record_path(record.backend, stem))}"
                                      f" pairs instance {instance.id} with detection {instance.detection}, which it does not list")
            mask = load_instance_mask(self.layout, instance, record.size)
            sink.add_one(mask, instance.score, instance.bbox_xyxy_px, instance.concept, instance)
        return sink

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

