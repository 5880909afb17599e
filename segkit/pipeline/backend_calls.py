"""Calling one backend: a queue of requests served by ``max_concurrency`` threads, each handing the
backend up to ``batch_size`` waiting images per call (``segment_batch``). A GPU gets batches, an API gets
concurrent requests, and a model is never called from two threads unless it says it can be.

Every engine calls backends through this (the local engine in its process, a Ray actor in its own), so
batching, the one-at-a-time fallback of a failing batch, the contract check and the counts are the same.
A concept backend gets a ``ConceptWorker``: the same loop, its prompts being lists of concepts (at most
``max_concepts`` of one image per request: the pipeline splits and renumbers) instead of boxes, every
answer checked by ``check_concept_instances``.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from segkit.errors import BackendFatalError, one_line
from segkit.pipeline.backends import ActiveBackend, BackendStats
from segkit.plugins.concept_segmenter import ConceptContractError, ConceptInstances, check_concept_instances
from segkit.plugins.segmenter import ContractError, check_segmentation
from segkit.redact import redact

CONTRACT_ERRORS = (ContractError, ConceptContractError)  # a backend's answer that breaks its contract


class RunStopped(Exception):
    """The run was stopped (a fatal backend error, Ctrl-C) before this request reached its backend."""


def failure_message(exc: BaseException) -> str:
    """One line for a failure, secrets masked: it goes to the terminal, failures.json and the records."""
    return redact(str(exc) if isinstance(exc, CONTRACT_ERRORS) else one_line(exc))


@dataclass
class _Request:
    rgb: np.ndarray
    prompt: Any  # (N, 4) boxes for a segmenter; a list of Concepts for a concept segmenter
    future: Future


class BackendWorker:
    """Feeds one backend from a queue. ``submit`` returns a Future of (Segmentation, seconds)."""

    def __init__(self, backend: ActiveBackend, stop: threading.Event, halt: Callable[[str], None]):
        self.backend = backend
        self.stop = stop
        self.halt = halt  # called with the message of a fatal error: the engine stops taking images
        self.queue: queue.Queue[_Request | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, name=f"{backend.name}-{i}", daemon=True)
                        for i in range(backend.concurrency)]
        for thread in self.threads:
            thread.start()

    def submit(self, rgb: np.ndarray, prompt: Any) -> Future:
        future: Future = Future()
        self.queue.put(_Request(rgb, prompt, future))
        return future

    # -- what differs between kinds of backend (ConceptWorker overrides these) -----------------

    def _segment_batch(self, images: list[np.ndarray], prompts: list[Any]) -> Any:
        return self.backend.segmenter.segment_batch(images, prompts)  # type: ignore[attr-defined]

    def _segment(self, rgb: np.ndarray, prompt: Any) -> Any:
        return self.backend.segmenter.segment(rgb, prompt)  # type: ignore[attr-defined]

    def _check(self, raw: Any, request: _Request) -> Any:
        """The answer checked against the contract (a CONTRACT_ERRORS exception if it breaks it)."""
        height, width = request.rgb.shape[:2]
        return check_segmentation(raw, len(request.prompt), height, width, self.backend.name)

    def _tally(self, stats: BackendStats, request: _Request, result: Any) -> None:
        stats.boxes += len(request.prompt)
        stats.masks += len(result.masks)

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
        if len(live) == 1:
            self._call_one(live[0])
            return
        if not live:
            return
        started = time.perf_counter()
        try:
            answers = self._segment_batch([r.rgb for r in live], [r.prompt for r in live])
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

    def _call_one(self, request: _Request) -> None:
        if self.stop.is_set():
            request.future.set_exception(RunStopped())
            return
        started = time.perf_counter()
        try:
            raw = self._segment(request.rgb, request.prompt)
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
        try:
            result = self._check(raw, request)
        except CONTRACT_ERRORS as exc:
            self._count(failures=1)
            request.future.set_exception(exc)
            return
        with self.backend.lock:
            self._tally(self.backend.stats, request, result)
            self.backend.stats.seconds += seconds
        request.future.set_result((result, seconds))

    def _count(self, failures: int = 0, calls: int = 0) -> None:
        with self.backend.lock:
            self.backend.stats.failures += failures
            self.backend.stats.calls += calls


class BackendCalls:
    """One worker per backend, started together and closed together; ``halt`` stops them all."""

    def __init__(self, backends: list[ActiveBackend], stop: threading.Event | None = None):
        self.stop = stop or threading.Event()
        self.fatal: str | None = None
        self.workers = {b.name: _worker_class(b)(b, self.stop, self.halt) for b in backends}

    def halt(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.stop.set()

    def submit(self, backend: str, rgb: np.ndarray, prompt: Any) -> Future:
        """``prompt``: the boxes for a segmenter, the concepts for a concept segmenter."""
        return self.workers[backend].submit(rgb, prompt)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


class ConceptWorker(BackendWorker):
    """Feeds one concept backend. ``submit(rgb, concepts)`` returns a Future of (ConceptInstances, seconds)."""

    def _segment_batch(self, images: list[np.ndarray], prompts: list[Any]) -> Any:
        return self.backend.segmenter.segment_concepts_batch(images, prompts)  # type: ignore[attr-defined]

    def _segment(self, rgb: np.ndarray, prompt: Any) -> Any:
        return self.backend.segmenter.segment_concepts(rgb, prompt)  # type: ignore[attr-defined]

    def _check(self, raw: Any, request: _Request) -> ConceptInstances:
        height, width = request.rgb.shape[:2]
        return check_concept_instances(raw, len(request.prompt), height, width, self.backend.name)

    def _tally(self, stats: BackendStats, request: _Request, result: Any) -> None:
        stats.concepts += len(request.prompt)
        stats.masks += len(result.masks)


def _worker_class(backend: ActiveBackend) -> type[BackendWorker]:
    return ConceptWorker if backend.segmenter.kind == "concept" else BackendWorker
