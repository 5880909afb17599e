"""The run loop: every image through every backend, outputs written as each image finishes.

Images flow through a small window of worker threads: while a backend segments one image, the next
is decoded and the previous one's masks, panel and JSON are written. Each backend has its own pool
sized by its ``max_concurrency`` (1 for a local model, more for a remote API), so a model is never
called from two threads at once and an API sees several requests in flight.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from segkit.artifacts import OutputLayout, complete_record, load_mask, write_jpeg, write_json, write_mask
from segkit.coco_export import CocoExport
from segkit.config import LimitSettings, VizSettings
from segkit.detection_source import DetectionIndex
from segkit.detections import boxes_array, resolve_detections
from segkit.errors import BackendFatalError, ImageFailed, one_line
from segkit.images import load_rgb
from segkit.panel import render_panel
from segkit.redact import redact
from segkit.record import backend_record, combine_records, pair_ious_by_id
from segkit.segmenter import ContractError, Segmentation, Segmenter, check_segmentation


def failure_message(exc: BaseException) -> str:
    """One line for a failure, secrets masked: it goes to the terminal, failures.json and the records."""
    return redact(str(exc) if isinstance(exc, ContractError) else one_line(exc))


class RunStopped(Exception):
    """The run was stopped (a fatal backend error) before this image reached a backend."""


@dataclass
class BackendStats:
    images: int = 0
    boxes: int = 0
    masks: int = 0
    failures: int = 0
    seconds: float = 0.0  # summed over calls to segment()
    load_seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float | None:
        return self.seconds / self.images if self.images else None


@dataclass
class ActiveBackend:
    """A backend loaded for this run, with its own worker pool."""

    name: str
    segmenter: Segmenter
    stats: BackendStats = field(default_factory=BackendStats)
    pool: ThreadPoolExecutor | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    info: dict[str, Any] = field(default_factory=dict)  # plugin and settings, fixed once loaded

    def start(self) -> None:
        self.info = {"plugin": self.segmenter.__class__.__module__.split(".")[0], "settings": self.segmenter.settings()}
        self.pool = ThreadPoolExecutor(max(1, int(self.segmenter.max_concurrency)), thread_name_prefix=self.name)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class ImageOutcome:
    image: Path
    status: str  # "done", "complete" (skipped: outputs already there), "failed", "no-detections", "not-run"
    detections: int = 0
    masks: int = 0
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # (backend or None, message)
    warnings: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the image record written (or found complete), for the report


@dataclass
class RunSummary:
    outcomes: list[ImageOutcome]
    backends: dict[str, BackendStats]
    seconds: float
    fatal: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failures(self) -> list[dict[str, str | None]]:
        return [
            {"image": o.image.name, "backend": backend, "error": message}
            for o in self.outcomes
            for backend, message in o.errors
        ]


@dataclass
class RunPlan:
    images: Sequence[Path]
    detections: DetectionIndex
    layout: OutputLayout
    conf: float = 0.0
    force: bool = False
    viz: VizSettings = field(default_factory=VizSettings)
    coco: CocoExport | None = None  # collects every mask as COCO RLE when set (--coco)
    limits: LimitSettings = field(default_factory=LimitSettings)


class Runner:
    def __init__(self, plan: RunPlan, backends: Sequence[ActiveBackend], on_image: Callable[[ImageOutcome], None] | None = None):
        self.plan = plan
        self.backends = list(backends)
        self.on_image = on_image or (lambda outcome: None)
        self.stop = threading.Event()
        self.fatal: str | None = None
        self.names = [b.name for b in self.backends]

    def run(self) -> RunSummary:
        started = time.perf_counter()
        self.plan.layout.create()
        for backend in self.backends:
            backend.start()
        window = max(b.segmenter.max_concurrency for b in self.backends) + 2
        outcomes: dict[Path, ImageOutcome] = {}
        try:
            with ThreadPoolExecutor(window, thread_name_prefix="image") as images_pool:
                pending: set[Future] = set()
                queue = list(self.plan.images)
                while queue or pending:
                    while queue and len(pending) < window and not self.stop.is_set():
                        image = queue.pop(0)
                        future = images_pool.submit(self._process, image)
                        future.image = image  # type: ignore[attr-defined]
                        pending.add(future)
                    if self.stop.is_set():
                        queue.clear()
                    if not pending:
                        break
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        outcome = future.result()
                        outcomes[outcome.image] = outcome
                        self.on_image(outcome)
        finally:
            for backend in self.backends:
                backend.stop()
        ordered = [outcomes.get(p) or ImageOutcome(p, "not-run") for p in self.plan.images]
        return RunSummary(ordered, {b.name: b.stats for b in self.backends}, time.perf_counter() - started, self.fatal)

    # -- one image -------------------------------------------------------------------------------

    def _process(self, image: Path) -> ImageOutcome:
        try:
            return self._process_image(image)
        except ImageFailed as exc:
            return ImageOutcome(image, "failed", errors=[(None, failure_message(exc))])
        except Exception as exc:  # a bug or an I/O error on one image must not end the run
            return ImageOutcome(image, "failed", errors=[(None, f"{image.name}: {failure_message(exc)}")])

    def _process_image(self, image: Path) -> ImageOutcome:
        plan = self.plan
        key, entry, error = plan.detections.lookup(image)
        if error:
            return ImageOutcome(image, "failed", errors=[(None, error)])
        if entry is None:
            return ImageOutcome(
                image, "no-detections",
                warnings=[f"{image.name}: no detections found for it; add a detection file named {image.stem}.json or remove the image"],
            )
        if self.stop.is_set():
            return ImageOutcome(image, "not-run")
        stem = image.stem
        done = None if plan.force else complete_record(plan.layout, stem, self.names, plan.conf)
        if done is not None:
            if plan.coco is not None:
                self._export_written_masks(stem, done)
            return ImageOutcome(image, "complete", record=done)

        det_file, reader, raws = entry
        rgb = load_rgb(image, plan.limits.max_image_pixels)
        height, width = rgb.shape[:2]
        detections, skipped = resolve_detections(raws, (width, height), plan.conf)
        outcome = ImageOutcome(image, "done", detections=len(detections))
        outcome.warnings += [
            f"{image.name}: detection {s.id} ({s.label}) skipped: {s.reason}"
            for s in skipped
            if not s.reason.startswith("confidence")
        ]

        results: dict[str, Segmentation] = {}
        seconds: dict[str, float] = {}
        failed: dict[str, str] = {}
        if detections:
            boxes = boxes_array(detections)
            futures = {b.name: b.pool.submit(self._segment, b, rgb, boxes) for b in self.backends}  # type: ignore[union-attr]
            stopped = False
            for name, future in futures.items():
                try:
                    results[name], seconds[name] = future.result()
                except RunStopped:
                    stopped = True
                except BackendFatalError as exc:
                    failed[name] = failure_message(exc)
                    self._halt(failed[name])
                except Exception as exc:
                    failed[name] = failure_message(exc)
            if stopped and not failed:
                return ImageOutcome(image, "not-run")  # left for the next run, nothing written
        else:
            results = {b.name: Segmentation(np.zeros((0, height, width), bool), np.zeros(0)) for b in self.backends}

        layout = plan.layout
        common = dict(image=image, size=(width, height), detections_file=det_file, reader=reader, conf=plan.conf,
                      detections=detections, skipped=skipped)
        backend_records: list[dict[str, Any]] = []
        record_files: dict[str, str] = {}
        for b in self.backends:
            if b.name not in results and b.name not in failed:
                continue  # stopped before it ran: nothing to record
            info = {**b.info, "seconds": round(seconds.get(b.name, 0.0), 4)}
            seg = results.get(b.name)
            mask_files: dict[int, str] = {}
            if seg is not None:
                for i, det in enumerate(detections):
                    path = layout.mask_path(stem, det.id, det.label, b.name)
                    write_mask(path, seg.masks[i])
                    mask_files[det.id] = layout.relative(path)
                outcome.masks += len(detections)
            rec = backend_record(backend=b.name, info=info, segmentation=seg, mask_files=mask_files,
                                 failed=failed.get(b.name), **common)
            record_path = layout.backend_record_path(b.name, stem)
            write_json(record_path, rec)
            record_files[b.name] = layout.relative(record_path)
            backend_records.append(rec)

        panel_path = layout.panel_path(stem)
        panel = render_panel(rgb, detections, results, plan.viz, title=image.name)
        write_jpeg(panel_path, panel, plan.viz.jpeg_quality)

        record = combine_records(backend_records, pair_ious_by_id(detections, results), layout.relative(panel_path), record_files)
        write_json(layout.json_path(stem), record)  # last: its presence marks the image complete
        outcome.record = record
        if plan.coco is not None:
            ids = [det.id for det in detections]
            for name, seg in results.items():
                plan.coco.add(stem, record, name, ids, seg.masks)
        if failed:
            outcome.status = "failed"
            outcome.errors += [(name, f"{image.name}: {message}") for name, message in failed.items()]
        return outcome

    def _export_written_masks(self, stem: str, record: dict[str, Any]) -> None:
        """COCO export of an image an earlier run completed: its masks are read back once."""
        size = (record["width"], record["height"])
        for name in self.names:
            dets = [d for d in record["detections"] if name in d["backends"]]
            masks = [load_mask(self.plan.layout.root / d["backends"][name]["mask"], size) for d in dets]
            stack = np.stack(masks) if masks else np.zeros((0, size[1], size[0]), bool)
            self.plan.coco.add(stem, record, name, [d["id"] for d in dets], stack)  # type: ignore[union-attr]

    def _segment(self, backend: ActiveBackend, rgb: np.ndarray, boxes: np.ndarray) -> tuple[Segmentation, float]:
        if self.stop.is_set():
            raise RunStopped()
        started = time.perf_counter()
        try:
            raw = backend.segmenter.segment(rgb, boxes)
            result = check_segmentation(raw, len(boxes), rgb.shape[0], rgb.shape[1], backend.name)
        except BackendFatalError as exc:
            self._halt(failure_message(exc))  # here, so this worker's next queued image already sees the stop
            raise
        except Exception:
            with backend.lock:
                backend.stats.failures += 1
            raise
        seconds = time.perf_counter() - started
        with backend.lock:
            stats = backend.stats
            stats.images += 1
            stats.boxes += len(boxes)
            stats.masks += len(result.masks)
            stats.seconds += seconds
        return result, seconds

    def _halt(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.stop.set()
