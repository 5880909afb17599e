"""The local engine: every image through every backend, outputs written as each image finishes.

Each image is one task on a small pool of threads (``images in flight``). A task decodes its image,
hands its boxes to every backend, turns each backend's masks into compact RLE and mask files as they
arrive, and writes the image's records and panel. Three things bound it:

* a CPU gate, as many slots as the machine has cores, around the work segkit itself does (decode,
  masks, panel, JSON: mostly OpenCV, zlib and numpy, which release the GIL, so threads scale);
* a pixel budget (``limits.max_pixels_in_flight``): a task waits before decoding until the images
  already in flight leave room, so memory does not grow with the images' size or number;
* per backend, a worker (``BackendWorker``) with ``max_concurrency`` threads, each taking up to
  ``batch_size`` waiting images per call (``segment_batch``): a GPU gets batches, an API gets
  concurrent requests, and a model is never called from two threads unless it says it can be.

Boxes go to a backend in chunks of at most ``limits.max_boxes_per_call`` (and ``max_mask_pixels_per_call``
mask pixels), so 10,000 boxes on one image cost a bounded amount of memory. Results come back in
input order; a failure stays with its image and backend; a fatal error or Ctrl-C stops new work while
the images in flight finish whole.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from segkit.config import LimitSettings
from segkit.errors import BackendFatalError
from segkit.inputs.detections import boxes_array
from segkit.inputs.images import image_size
from segkit.pipeline.image_steps import (
    BackendStats,
    DecodedImage,
    ImageOutcome,
    RunPlan,
    RunSummary,
    conclude,
    decode,
    discard,
    failure_message,
    failure_outcome,
    machine_cores,
    new_sink,
    triage,
)
from segkit.plugins.segmenter import ContractError, Segmenter, check_segmentation

SWITCH_INTERVAL = 0.0005  # seconds; see Runner.run


class RunStopped(Exception):
    """The run was stopped (a fatal backend error, Ctrl-C) before this image reached a backend."""


@dataclass
class ActiveBackend:
    """A backend loaded for this run."""

    name: str
    segmenter: Segmenter
    stats: BackendStats = field(default_factory=BackendStats)
    lock: threading.Lock = field(default_factory=threading.Lock)
    info: dict[str, Any] = field(default_factory=dict)  # plugin and settings, fixed once loaded

    @property
    def concurrency(self) -> int:
        return max(1, int(self.segmenter.max_concurrency))

    @property
    def batch_size(self) -> int:
        return max(1, int(getattr(self.segmenter, "batch_size", 1) or 1))

    def describe(self) -> None:
        self.info = {"plugin": self.segmenter.__class__.__module__.split(".")[0], "settings": self.segmenter.settings()}


class PixelBudget:
    """A counting budget of image pixels in flight; one image larger than the budget runs alone."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self.used = 0
        self.cond = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        need = min(max(1, pixels), self.capacity)
        with self.cond:
            self.cond.wait_for(lambda: self.used + need <= self.capacity)
            self.used += need
        try:
            yield
        finally:
            with self.cond:
                self.used -= need
                self.cond.notify_all()


@dataclass
class _Request:
    rgb: np.ndarray
    boxes: np.ndarray
    future: Future


class BackendWorker:
    """Feeds one backend from a queue: ``concurrency`` threads, each calling it with up to ``batch_size`` images."""

    def __init__(self, backend: ActiveBackend, stop: threading.Event, halt: Callable[[str], None]):
        self.backend = backend
        self.stop = stop
        self.halt = halt
        self.queue: queue.Queue[_Request | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, name=f"{backend.name}-{i}", daemon=True)
                        for i in range(backend.concurrency)]
        for thread in self.threads:
            thread.start()

    def submit(self, rgb: np.ndarray, boxes: np.ndarray) -> Future:
        future: Future = Future()
        self.queue.put(_Request(rgb, boxes, future))
        return future

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()

    def _loop(self) -> None:
        size = self.backend.batch_size
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < size:  # whatever else is already waiting joins this call
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)  # leave the stop signal for this thread's next round
                    break
                batch.append(nxt)
            try:
                self._call(batch)
            except BaseException as exc:  # a bug here must fail these images, never leave them waiting
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)

    def _call(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if self.stop.is_set():
            for request in live:
                request.future.set_exception(RunStopped())
            return
        if len(live) > 1:
            started = time.perf_counter()
            try:
                answers = self.backend.segmenter.segment_batch([r.rgb for r in live], [r.boxes for r in live])
                if not isinstance(answers, (list, tuple)) or len(answers) != len(live):
                    raise ContractError(f"backend {self.backend.name!r} answered a batch of {len(live)} images with"
                                        f" {len(answers) if isinstance(answers, (list, tuple)) else type(answers).__name__}")
            except BackendFatalError as exc:
                self.halt(failure_message(exc))
                for request in live:
                    request.future.set_exception(exc)
                return
            except Exception:  # one bad image must not fail its batch: retry them one at a time
                for request in live:
                    self._call_one(request)
                return
            share = (time.perf_counter() - started) / len(live)
            self._count(calls=1)
            for request, raw in zip(live, answers):
                self._settle(request, raw, share)
        elif live:
            self._call_one(live[0])

    def _call_one(self, request: _Request) -> None:
        if self.stop.is_set():
            request.future.set_exception(RunStopped())
            return
        started = time.perf_counter()
        try:
            raw = self.backend.segmenter.segment(request.rgb, request.boxes)
        except BackendFatalError as exc:
            self.halt(failure_message(exc))  # here, so the next queued image already sees the stop
            request.future.set_exception(exc)
            return
        except Exception as exc:
            self._count(failures=1, calls=1)
            request.future.set_exception(exc)
            return
        self._count(calls=1)
        self._settle(request, raw, time.perf_counter() - started)

    def _settle(self, request: _Request, raw: Any, seconds: float) -> None:
        height, width = request.rgb.shape[:2]
        try:
            result = check_segmentation(raw, len(request.boxes), height, width, self.backend.name)
        except ContractError as exc:
            self._count(failures=1)
            request.future.set_exception(exc)
            return
        with self.backend.lock:
            stats = self.backend.stats
            stats.boxes += len(request.boxes)
            stats.masks += len(result.masks)
            stats.seconds += seconds
        request.future.set_result((result, seconds))

    def _count(self, failures: int = 0, calls: int = 0) -> None:
        with self.backend.lock:
            self.backend.stats.failures += failures
            self.backend.stats.calls += calls


def box_chunks(n_boxes: int, pixels: int, limits: LimitSettings) -> list[slice]:
    """Slices of an image's boxes, each small enough for one backend call under ``limits``."""
    per_call = max(1, min(limits.max_boxes_per_call, limits.max_mask_pixels_per_call // max(1, pixels)))
    return [slice(i, min(i + per_call, n_boxes)) for i in range(0, n_boxes, per_call)]


class Runner:
    def __init__(self, plan: RunPlan, backends: Sequence[ActiveBackend], on_image: Callable[[ImageOutcome], None] | None = None):
        self.plan = plan
        self.backends = list(backends)
        self.on_image = on_image or (lambda outcome: None)
        self.stop = threading.Event()
        self.fatal: str | None = None
        self.names = [b.name for b in self.backends]
        self.cpu = threading.BoundedSemaphore(max(1, plan.cores))
        self.pixels = PixelBudget(plan.limits.max_pixels_in_flight)
        self.workers: dict[str, BackendWorker] = {}

    @property
    def window(self) -> int:
        """Images in flight: enough to fill every backend's calls while others decode and write."""
        feeding = sum(b.concurrency * b.batch_size for b in self.backends)
        return feeding + 2 * max(1, self.plan.cores)

    def run(self) -> RunSummary:
        # A backend thread waking from its GPU or HTTP call must get the GIL back at once: waiting out
        # the default 5 ms switch interval behind segkit's own threads would leave the model idle.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            return self._run()
        finally:
            sys.setswitchinterval(interval)

    def _run(self) -> RunSummary:
        started = time.perf_counter()
        self.plan.layout.create()
        if self.plan.outputs.panels != "none":
            import supervision  # noqa: F401  (the panels' first use would import it mid-run, holding the GIL for a second)
        self.start_workers()
        outcomes: dict[Path, ImageOutcome] = {}
        try:
            with ThreadPoolExecutor(self.window, thread_name_prefix="image") as pool:
                pending: set[Future] = set()
                todo = iter(self.plan.images)
                exhausted = False
                try:
                    while True:
                        while not exhausted and len(pending) < self.window and not self.stop.is_set():
                            image = next(todo, None)
                            if image is None:
                                exhausted = True
                                break
                            pending.add(pool.submit(self._process, image))
                        if not pending:
                            break
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            outcome = future.result()
                            outcomes[outcome.image] = outcome
                            self.on_image(outcome)
                except KeyboardInterrupt:
                    self.stop.set()  # images whose backends have not started are left for the next run
                    raise
        finally:
            self.close_workers()
        ordered = [outcomes.get(p) or ImageOutcome(p, "not-run") for p in self.plan.images]
        return RunSummary(ordered, {b.name: b.stats for b in self.backends}, time.perf_counter() - started, self.fatal)

    def start_workers(self) -> None:
        """A worker per backend (``run`` does this; an engine that calls ``segment`` itself too)."""
        for backend in self.backends:
            backend.describe()
            self.workers[backend.name] = BackendWorker(backend, self.stop, self._halt)

    def close_workers(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()

    # -- one image -------------------------------------------------------------------------------

    def _process(self, image: Path) -> ImageOutcome:
        try:
            return self._process_image(image)
        except Exception as exc:  # a bad image, a full disk or a bug on one image must not end the run
            return failure_outcome(self.plan, image, exc)

    @contextmanager
    def _cpu(self, outcome: ImageOutcome, stage: str) -> Iterator[None]:
        with self.cpu:
            started = time.perf_counter()
            try:
                yield
            finally:
                outcome.seconds[stage] = outcome.seconds.get(stage, 0.0) + time.perf_counter() - started

    def _process_image(self, image: Path) -> ImageOutcome:
        if self.stop.is_set():
            return ImageOutcome(image, "not-run")
        task = triage(self.plan, self.names, image)
        if isinstance(task, ImageOutcome):
            return task
        width, height = image_size(image)
        with self.pixels.hold(width * height):
            outcome = ImageOutcome(image, "done")
            with self._cpu(outcome, "decode"):
                decoded = decode(self.plan, task)
            outcome.warnings += decoded.warnings
            sinks, failed, seconds, stopped = self.segment(decoded, outcome)
            with self._cpu(outcome, "outputs"):
                infos = [(b.name, b.info) for b in self.backends]
                return conclude(self.plan, decoded, infos, sinks, failed, seconds, stopped, outcome)

    def segment(self, decoded: DecodedImage, outcome: ImageOutcome):
        """Every backend's masks for the image, chunk by chunk, into one MaskSink per backend:
        (sinks, failed, seconds, stopped). Needs ``start_workers``."""
        plan = self.plan
        rgb, detections = decoded.rgb, decoded.detections
        height, width = rgb.shape[:2]
        sinks = {b.name: new_sink(plan, decoded, b.name) for b in self.backends}
        seconds = dict.fromkeys(sinks, 0.0)
        failed: dict[str, str] = {}
        stopped = False
        if not detections:
            return sinks, failed, seconds, stopped
        boxes = boxes_array(detections)
        chunks = box_chunks(len(boxes), width * height, plan.limits)
        position = {name: 0 for name in sinks}
        running: dict[Future, str] = {}

        def submit(name: str) -> None:
            part = chunks[position[name]]
            running[self.workers[name].submit(rgb, boxes[part])] = name

        for name in sinks:
            submit(name)
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    result, took = future.result()
                except RunStopped:
                    stopped = True
                    discard({name: sinks.pop(name)})
                    continue
                except BackendFatalError as exc:
                    failed[name] = failure_message(exc)
                    self._halt(failed[name])
                    discard({name: sinks.pop(name)})
                    continue
                except Exception as exc:
                    failed[name] = failure_message(exc)
                    discard({name: sinks.pop(name)})
                    continue
                seconds[name] += took
                part = chunks[position[name]]
                with self._cpu(outcome, "outputs"):
                    sinks[name].add(detections[part], result.masks, result.scores)
                del result  # the dense masks: only their compact form is kept
                position[name] += 1
                if position[name] < len(chunks):
                    submit(name)
        backends = {b.name: b for b in self.backends}
        for name in sinks:
            with backends[name].lock:
                backends[name].stats.images += 1
        return sinks, failed, seconds, stopped

    def _halt(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.stop.set()


__all__ = ["ActiveBackend", "BackendStats", "ImageOutcome", "RunPlan", "RunSummary", "Runner", "box_chunks", "failure_message",
           "machine_cores"]
