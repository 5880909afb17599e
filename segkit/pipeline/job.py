"""`segkit run` as a library call: ``run_job(RunJob(...))`` does everything the command does and returns
what happened.

    from segkit import RunJob, run_job
    result = run_job(RunJob(backends=["sam2-large"], images=Path("photos"), detections=Path("qwen"),
                            out=Path("runs/a"), gt=Path("gt.json")))
    print(result.summary.count("done"), result.report.pairs, result.exit_code)

It reads the inputs, creates and checks the backends, picks the engine (--engine), has it put every image
through the per-image pipeline, and collects each image's result as it finishes: the agreement report, the
COCO annotations and the page are built from those results as they stream by. At the end it writes
failures.json, report.json/csv and the COCO files, scores against ground truth (``gt``), and writes the
page. The CLI only turns flags into a ``RunJob`` and prints what ``RunEvents`` and the result say.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from segkit.config import Engine as EngineName
from segkit.config import (
    LimitSettings,
    MaskFormat,
    PanelMode,
    QualitySettings,
    RaySettings,
    VizSettings,
)
from segkit.errors import ConfigError, OutputWriteError, SegkitError
from segkit.evaluation.folder import EvalResult
from segkit.inputs.box_spaces import parse_box_space
from segkit.inputs.detection_files import DetectionIndex, load_detections
from segkit.inputs.images import drop_duplicate_stems, list_images
from segkit.inputs.readers.base import ReaderContext
from segkit.outputs.agreement import (
    DEFAULT_IOU_THRESHOLD,
    DEFAULT_WORST,
    AgreementReport,
    AgreementTally,
    save_report,
)
from segkit.outputs.coco import CocoExport
from segkit.outputs.files import remove_stale_temp_files, write_json
from segkit.outputs.image_writer import OutputSettings
from segkit.outputs.layout import OutputLayout
from segkit.outputs.lock import OutputLock
from segkit.outputs.reading import find_backend_records
from segkit.outputs.records import ImageRecord
from segkit.pipeline.backends import BackendStats, close_backends, prepare_backends
from segkit.pipeline.concept_sources import concept_request
from segkit.pipeline.engine import Engine, EngineRun
from segkit.pipeline.evaluate import score_again
from segkit.pipeline.events import RunEvents
from segkit.pipeline.image_pipeline import ImagePipeline, RunPlan
from segkit.pipeline.image_result import ImageResult
from segkit.html_report.page_writer import PageWriter
from segkit.pipeline.page import publish_page
from segkit.plugins.host import PluginHost, get_host
from segkit.plugins.options import check_families
from segkit.redact import redact
from segkit.storage import (
    Location,
    check_location,
    from_storage_library,
    is_remote,
    storage_error,
)


class RunJob(BaseModel):
    """Everything one run needs, already resolved (the CLI merges flags, environment and config into it)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    backends: list[str] = Field(min_length=1)
    images: Location  # a folder or an object-store URL (s3://bucket/prefix), as detections and out
    detections: Optional[Location] = None  # None: concept backends on --prompt phrases alone
    out: Location
    conf: float = Field(0.0, ge=0.0, le=1.0)
    reader: str = "auto"
    box_space: Optional[str] = None  # --box-space: what the numbers of model answers are in
    input_size: Optional[str] = None  # box_space's old name
    force: bool = False
    limit: Optional[int] = Field(None, ge=1)
    mask_format: MaskFormat = "png"
    panels: PanelMode = "all"
    iou_threshold: float = Field(DEFAULT_IOU_THRESHOLD, ge=0.0, le=1.0)
    worst: int = Field(DEFAULT_WORST, ge=0)
    coco: bool = False
    html: bool = True  # OUT/report.html at the end
    page: Optional[bool] = None  # each image's preview for the page (html/img/, the records' masks); None: as html
    gt: Optional[Path] = None  # ground truth to score against at the end (segkit eval's --gt)
    gt_from_config: bool = False  # `gt:` of the config: covering none of the images is a warning, not an error
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # config `options:` sections
    overrides: dict[str, dict[str, str]] = Field(default_factory=dict)  # -O key.field=value
    viz: VizSettings = Field(default_factory=VizSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    cores: Optional[int] = Field(None, ge=1)  # CPU slots for segkit's own work (default: the machine's)
    engine: EngineName = "local"  # where the work runs: this process's threads, or a Ray cluster
    ray: RaySettings = Field(default_factory=RaySettings)
    prompts: list[str] = Field(default_factory=list)  # --prompt: phrases every concept backend is asked on every image
    prompts_from_labels: bool = False  # each image's distinct detection labels as concepts too
    exemplars: bool = False  # each label's detection boxes as positive exemplars of it


@dataclass
class RunSummary:
    """Every image's result (without its record: those went into the report and the page) and the backends' counts."""

    outcomes: list[ImageResult]
    backends: dict[str, BackendStats]
    seconds: float
    fatal: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failures(self) -> list[dict[str, str | None]]:
        return [{"image": o.image.name, "backend": backend, "error": message}
                for o in self.outcomes for backend, message in o.errors]

    def stage_seconds(self) -> dict[str, float]:
        """segkit's own work summed over images, by stage (decode, outputs)."""
        total: dict[str, float] = {}
        for outcome in self.outcomes:
            for stage, value in outcome.seconds.items():
                total[stage] = total.get(stage, 0.0) + value
        return total


@dataclass
class RunResult:
    summary: RunSummary
    report: AgreementReport
    files: list[Path]  # report.json, report.csv, COCO files
    layout: OutputLayout
    other_backends: list[str] = field(default_factory=list)  # in the folder from earlier runs or merges
    evaluation: EvalResult | None = None  # with ``gt``
    evaluation_error: SegkitError | None = None  # the scoring could not run; the run's outputs are complete
    page: Path | None = None  # report.html

    @property
    def failed_images(self) -> int:
        return len({f["image"] for f in self.summary.failures})

    @property
    def exit_code(self) -> int:
        """0: all went well; 1: some images failed, a backend stopped the run, or some image could not be
        scored; the scoring's own code (2: unusable ground truth) when it could not run at all."""
        if self.summary.fatal or self.summary.failures:
            return 1
        if self.evaluation_error is not None:
            return self.evaluation_error.exit_code
        return 1 if self.evaluation is not None and self.evaluation.problems else 0


class _Collector:
    """Takes each image's result as the engine hands it over (in the driver's thread): tells the caller,
    adds the image to the report and the COCO export, and keeps the result without its record."""

    def __init__(self, names: list[str], tally: AgreementTally, coco: CocoExport | None, events: RunEvents,
                 page: PageWriter | None = None, images: list[Path] | None = None):
        self.names = names
        self.page = page
        # The page takes the records in the images' order (as a rebuild from json/ would), whatever order
        # they finish in: a record waits only for the images still in flight before it.
        self.order = {path: i for i, path in enumerate(images or [])}
        self.finished: dict[int, ImageRecord | None] = {}
        self.next = 0
        self.tally = tally
        self.coco = coco
        self.events = events
        self.results: dict[Path, ImageResult] = {}
        self.recorded: list[str] = []  # stems with an image record written or found complete
        self.images = dict.fromkeys(names, 0)  # images each backend segmented (that had boxes)

    def __call__(self, result: ImageResult) -> None:
        self.events.image_done(result)
        record = result.record
        if self.page is not None:
            self.finished[self.order.get(result.image, -1)] = record
            self._feed_page()
        if record is not None:
            self.tally.add(record)
            self.recorded.append(result.image.stem)
            if result.status == "done" or result.status == "failed":
                for name in self.names:
                    asked = record.concepts[name] if name in record.concepts else record.detections
                    if name in record.backends and name not in record.failed_backends and asked:
                        self.images[name] += 1
        if result.coco is not None and self.coco is not None:
            self.coco.merge(result.coco)
        self.results[result.image] = replace(result, record=None, coco=None)

    def _feed_page(self, everything: bool = False) -> None:
        assert self.page is not None
        self.finished.pop(-1, None)
        while self.finished and (self.next in self.finished or everything):
            record = self.finished.pop(self.next, None)
            if record is not None:
                self.page.add(record)
            self.next += 1

    def summary(self, images: list[Path], run: EngineRun) -> RunSummary:
        if self.page is not None:
            self._feed_page(everything=True)  # images that never came back (a stopped run): the rest in order
        for name, stats in run.backends.items():
            stats.images = self.images.get(name, 0)
        ordered = [self.results.get(p) or ImageResult(p, "not-run") for p in images]
        return RunSummary(ordered, run.backends, run.seconds, run.fatal)


def run_job(job: RunJob, events: RunEvents | None = None, host: PluginHost | None = None) -> RunResult:
    """Run a job: segment every image with every backend, write every output, score, write the page.

    Raises SegkitError (one line for the user) for anything that stops the run before it starts; what
    happens to images after that is in the result (``exit_code``). Ctrl-C (KeyboardInterrupt) is raised
    again once the images in flight are written whole.
    """
    events = events or RunEvents()
    host = host or get_host()
    try:
        input_space = parse_box_space(job.box_space or job.input_size)
    except ValueError as exc:
        raise ConfigError(f"--box-space: {exc}") from exc
    host.backends()  # registration problems show up here
    for problem in host.problems:
        events.warning(redact(f"plugin {problem.plugin}: {problem.message}"))
    for message in check_families(job.options, job.overrides, host.option_families()):
        events.warning(message)
    backends = prepare_backends(host, job.backends, job.options, job.overrides)
    names = [b.name for b in backends]
    try:
        # Bad concept flags: one line, before anything is written.
        concepts = concept_request(job.prompts, job.prompts_from_labels, job.exemplars, job.detections is not None, job.limits, backends)
        readers = {name: entry.cls() for name, entry in host.readers().items()}
        if job.reader != "auto" and job.reader not in readers:
            host.reader(job.reader)  # raises the error that lists the readers
        for location, flag in ((job.images, "--images"), (job.detections, "--detections"), (job.out, "--out")):
            if location is not None:
                check_location(location, flag, output=flag == "--out")  # URLs: credentials, bucket
        images = drop_duplicate_stems(list_images(job.images), events.warning)
        if job.limit:
            images = images[: job.limit]
        index = DetectionIndex()
        if job.detections is not None:
            index = load_detections(job.detections, readers, job.reader, ReaderContext(input_space), job.limits)
        for message in index.warnings:
            events.warning(message)
        engine = connect_engine(job.engine, job.ray)  # before anything is written: Ray missing is one line
        layout = OutputLayout(job.out)
        layout.create()
    except BaseException:
        close_backends(backends)
        raise

    with OutputLock(job.out):
        remove_stale_temp_files(layout)
        outputs = OutputSettings(job.mask_format, job.panels, job.iou_threshold, job.viz, job.quality,
                                 page=job.html if job.page is None else job.page)
        plan = RunPlan(layout, index, job.conf, job.force, outputs, job.limits, job.coco, concepts=concepts,
                       detections_given=job.detections is not None)
        if job.cores:
            plan.cores = job.cores
        page = PageWriter(layout.root) if job.html else None  # built from each image's record as it finishes
        collect = _Collector(names, AgreementTally(names, job.iou_threshold, job.worst), CocoExport() if job.coco else None,
                             events, page, images)
        concept_backends = {b.name: b.segmenter.max_concepts for b in backends if b.segmenter.kind == "concept"}  # type: ignore[attr-defined]
        try:
            run = engine.run(ImagePipeline(plan, names, concept_backends), images, backends, events, collect)
        finally:
            close_backends(backends)
            engine.close()
        summary = collect.summary(images, run)

        for key, path in index.unused():
            if job.limit is None:
                events.warning(f"detections for {key!r} ({path or job.detections}) match no image in {job.images};"
                               " add the image or remove the entry")
        report = collect.tally.report()
        files = write_run_files(layout, summary, report, collect.coco, names)
    result = RunResult(summary, report, files, layout, sorted(set(find_backend_records(layout)) - set(names)))
    try:
        result.evaluation = score_again(layout.root, job.gt, events, gt_from_config=job.gt_from_config,
                                        stems=collect.recorded, backends=names, limits=job.limits)
    except SegkitError as exc:  # the scoring failed; everything the run wrote is kept, and the page too
        result.evaluation_error = exc
    if page is not None:
        # Scoring rewrote the records it scored (ground truth, its layer on the page): the page takes them
        # from the scoring, already in memory; otherwise it has had every record as the images finished.
        if result.evaluation is not None:
            page = PageWriter(layout.root)
            for record in result.evaluation.records:
                page.add(record)
        result.page = publish_page(layout.root, events, page, report, result.evaluation, summary.failures)
    return result


def connect_engine(name: str, ray: RaySettings) -> Engine:
    """The engine --engine names, connected (Ray is imported only for `ray`: the core never imports it
    otherwise). Ray missing or a cluster out of reach is one line here, before anything is written."""
    if name == "ray":
        from segkit.pipeline.ray_engine import RayEngine

        return RayEngine.connect(ray)
    from segkit.pipeline.local_engine import LocalEngine

    return LocalEngine()


def write_run_files(layout: OutputLayout, summary: RunSummary, report: AgreementReport, coco: CocoExport | None,
                    names: list[str]) -> list[Path]:
    """failures.json, the report and the COCO files; one line (not a traceback) if the disk refuses."""
    try:
        write_json(layout.failures_path, [{k: redact(v) if isinstance(v, str) else v for k, v in f.items()}
                                          for f in summary.failures])
        files = save_report(layout, report)
        if coco is not None:
            files += coco.write(layout, names)
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        raise OutputWriteError(
            f"cannot write{where} in {layout.root} ({exc.strerror or exc}); the images already written are kept:"
            " free some space or make the folder writable, then run the same command again"
        ) from exc
    except Exception as exc:
        if not (is_remote(layout.root) and from_storage_library(exc)):
            raise
        # The object store's own errors (botocore's credential, validation and client errors) are not OSErrors.
        raise OutputWriteError(f"{storage_error(exc, layout.root, '--out')}; the images already written are kept:"
                               " run the same command again once it is reachable") from exc
    return files
