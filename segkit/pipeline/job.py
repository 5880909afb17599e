"""`segkit run` as a library call: ``run_job(RunJob(...))`` runs a folder and returns what happened.

The CLI is a thin layer over this (it resolves flags, environment and config into a ``RunJob`` and
prints what ``RunEvents`` report); benchmarks and other engines call it the same way::

    from segkit import RunJob, run_job
    result = run_job(RunJob(backends=["sam2-large"], images=Path("photos"), detections=Path("qwen"),
                            out=Path("runs/a")))
    print(result.summary.count("done"), result.report["pairs"])
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field

from segkit.config import (
    Engine,
    LimitSettings,
    MaskFormat,
    PanelMode,
    RaySettings,
    VizSettings,
)
from segkit.errors import (
    BackendFatalError,
    BackendNotReady,
    ConfigError,
    SegkitError,
    one_line,
)
from segkit.html_report import write_html_report
from segkit.inputs.box_spaces import parse_box_space
from segkit.inputs.detection_files import load_detections
from segkit.inputs.images import list_images
from segkit.inputs.readers.base import ReaderContext
from segkit.outputs.agreement import (
    DEFAULT_IOU_THRESHOLD,
    DEFAULT_WORST,
    build_report,
    save_report,
)
from segkit.outputs.coco import CocoExport
from segkit.outputs.files import remove_stale_temp_files, write_json
from segkit.outputs.image_writer import OutputSettings
from segkit.outputs.layout import OutputLayout
from segkit.outputs.lock import OutputLock
from segkit.outputs.quality import QualitySettings
from segkit.outputs.reading import find_backend_records
from segkit.pipeline.image_steps import ImageOutcome, RunPlan, RunSummary
from segkit.pipeline.local_engine import ActiveBackend, Runner
from segkit.plugins.host import PluginHost, get_host
from segkit.plugins.options import check_families, resolve_options
from segkit.redact import redact
from segkit.storage import (
    Location,
    check_location,
    from_storage_library,
    is_remote,
    storage_error,
)

HTML_NOT_REMOTE = ("report.html is written in local folders only: copy the output down (aws s3 sync URL DIR) and run"
                   " `segkit compare DIR` for the page")


class RunJob(BaseModel):
    """Everything one run needs, already resolved (the CLI merges flags, environment and config into it)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    backends: list[str] = Field(min_length=1)
    images: Location  # a folder or an object-store URL (s3://bucket/prefix), as detections and out
    detections: Location
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
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # config `options:` sections
    overrides: dict[str, dict[str, str]] = Field(default_factory=dict)  # -O key.field=value
    viz: VizSettings = Field(default_factory=VizSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    cores: Optional[int] = Field(None, ge=1)  # CPU slots for segkit's own work (default: the machine's)
    engine: Engine = "local"  # where the work runs: this process's threads, or a Ray cluster
    ray: RaySettings = Field(default_factory=RaySettings)


class RunEvents:
    """What a run tells its caller as it goes; override the methods you need (the CLI prints them)."""

    def warning(self, message: str) -> None:
        """A problem that does not stop anything (already redacted)."""

    @contextmanager
    def loading(self, backend: str) -> Iterator[None]:
        """Around loading one backend's model."""
        yield

    def started(self, images: int, backends: list[str]) -> None:
        """Segmenting begins."""

    def image_done(self, outcome: ImageOutcome) -> None:
        """One image finished (in the order they finish)."""


@dataclass
class RunResult:
    summary: RunSummary
    report: dict[str, Any]
    files: list[Path]  # report.json, report.csv, COCO files, report.html
    layout: OutputLayout
    other_backends: list[str] = field(default_factory=list)  # in the folder from earlier runs or merges

    @property
    def failed_images(self) -> int:
        return len({f["image"] for f in self.summary.failures})

    @property
    def exit_code(self) -> int:
        """0: all went well; 1: some images failed or a backend stopped the run."""
        return 1 if self.summary.fatal or self.summary.failures else 0


def prepare_backends(host: PluginHost, job: RunJob) -> list[ActiveBackend]:
    """Create every backend the job names (once each, aliases resolved) and check it is ready."""
    active: list[ActiveBackend] = []
    seen: set[str] = set()
    for requested in job.backends:
        entry = host.backend(requested)
        if entry.name in seen:
            continue
        seen.add(entry.name)
        segmenter = entry.create(resolve_options(entry.cls, job.options, job.overrides))
        readiness = segmenter.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {entry.name!r} is not ready: {readiness.reason}")
        active.append(ActiveBackend(entry.name, segmenter))
    return active


def load_backends(active: list[ActiveBackend], events: RunEvents) -> None:
    for backend in active:
        started = time.perf_counter()
        with events.loading(backend.name):
            try:
                backend.segmenter.load()
            except SegkitError:
                raise
            except Exception as exc:
                raise BackendFatalError(f"backend {backend.name!r} failed to load: {one_line(exc)}") from exc
        backend.stats.load_seconds = time.perf_counter() - started


def drop_duplicate_stems(paths: list[Path], warn: Callable[[str], None]) -> list[Path]:
    """Outputs are named by stem, so a.jpg and a.png would overwrite each other: keep the first."""
    kept: dict[str, Path] = {}
    for path in paths:
        if path.stem in kept:
            warn(f"{path} has the same name stem as {kept[path.stem].name}; skipping it (rename one of them)")
            continue
        kept[path.stem] = path
    return list(kept.values())


def run_job(job: RunJob, events: RunEvents | None = None, host: PluginHost | None = None) -> RunResult:
    """Run a job: segment every image with every backend, write every output, return the summary.

    Raises SegkitError (one line for the user) for anything that stops the run before it starts.
    """
    events = events or RunEvents()
    host = host or get_host()
    try:
        input_space = parse_box_space(job.box_space or job.input_size)
    except ValueError as exc:
        raise ConfigError(f"--box-space: {exc}") from exc
    entries = host.backends()  # registration problems show up here
    for problem in host.problems:
        events.warning(redact(f"plugin {problem.plugin}: {problem.message}"))
    for message in check_families(job.options, job.overrides, host.option_families()):
        events.warning(message)
    active = prepare_backends(host, job)
    readers = {name: entry.cls() for name, entry in host.readers().items()}
    if job.reader != "auto" and job.reader not in readers:
        host.reader(job.reader)  # raises the error that lists the readers

    for location, flag in ((job.images, "--images"), (job.detections, "--detections"), (job.out, "--out")):
        check_location(location, flag, output=flag == "--out")  # URLs: credentials, bucket
    image_paths = drop_duplicate_stems(list_images(job.images), events.warning)
    if job.limit:
        image_paths = image_paths[: job.limit]
    index = load_detections(job.detections, readers, job.reader, ReaderContext(input_space), job.limits)
    for message in index.warnings:
        events.warning(message)
    engine = connect_engine(job)  # before anything is written: Ray missing or a cluster out of reach is one line
    layout = OutputLayout(job.out)
    layout.create()
    with OutputLock(job.out):
        remove_stale_temp_files(layout)
        try:
            outputs = OutputSettings(job.mask_format, job.panels, job.iou_threshold, job.viz, job.quality,
                                     page=job.html if job.page is None else job.page)
            plan = RunPlan(image_paths, index, layout, job.conf, job.force, outputs, job.limits,
                           CocoExport() if job.coco else None)
            if job.cores:
                plan.cores = job.cores
            summary = run_engine(engine, job, plan, active, events)
        finally:
            for backend in active:
                backend.segmenter.close()

        for key, path in index.unused():
            if job.limit is None:
                events.warning(f"detections for {key!r} ({path or job.detections}) match no image in {job.images};"
                               " add the image or remove the entry")
        names = [b.name for b in active]
        report = build_report([o.record for o in summary.outcomes if o.record is not None], names, job.iou_threshold, job.worst)
        files = write_run_files(layout, summary, report, plan.coco, names)
        if job.html and is_remote(layout.root):
            events.warning(HTML_NOT_REMOTE)
        elif job.html:
            try:
                files.append(write_html_report(layout.root, job.images))
            except SegkitError as exc:  # HtmlReportError: the page is not worth the run's other outputs
                events.warning(f"report.html not written: {exc}")
    others = sorted(set(find_backend_records(layout)) - set(names))
    return RunResult(summary, report, files, layout, others)


def connect_engine(job: RunJob) -> Any:
    """None for the local engine; for `--engine ray` a RayEngine connected to its cluster (Ray is imported
    only then, so the core never imports it otherwise)."""
    if job.engine == "local":
        return None
    from segkit.pipeline.ray_engine import RayEngine

    return RayEngine.connect(job.ray)


def run_engine(engine: Any, job: RunJob, plan: RunPlan, active: list[ActiveBackend], events: RunEvents) -> RunSummary:
    """The one place that picks where the work runs. Every engine calls the same per-image steps
    (``segkit.pipeline.image_steps``), so every engine writes the same files."""
    if engine is None:  # the local engine: this process's threads
        load_backends(active, events)
        events.started(len(plan.images), [b.name for b in active])
        return Runner(plan, active, events.image_done).run()
    return engine.run(job, plan, active, events)


class OutputWriteError(SegkitError):
    """A file at the end of a run could not be written (disk full, folder made read-only)."""

    exit_code = 1


def write_run_files(layout: OutputLayout, summary: RunSummary, report: dict[str, Any], coco: CocoExport | None,
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
