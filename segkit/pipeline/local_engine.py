"""The local engine: every image through the pipeline on a small pool of threads in this process.

Each image is one task (``ImagePipeline.process``) on a pool of ``images in flight`` threads; its boxes go
to every backend through ``BackendCalls`` (batches, requests in flight). Three things bound it:

* a CPU gate, as many slots as the machine has cores, around the work segkit itself does (decode,
  masks, panel, JSON: mostly OpenCV, zlib and numpy, which release the GIL, so threads scale);
* a pixel budget (``limits.max_pixels_in_flight``): a task waits before decoding until the images
  already in flight leave room, so memory does not grow with the images' size or number;
* a bounded window of images submitted at a time (``bounded_map``).

Results come back in the order images finish; a failure stays with its image and backend; a fatal error
or Ctrl-C stops new work while the images in flight finish whole.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from segkit.inputs.images import image_size
from segkit.pipeline.backend_calls import BackendCalls
from segkit.pipeline.backends import ActiveBackend
from segkit.pipeline.bounded import bounded_map
from segkit.pipeline.engine import Engine, EngineRun
from segkit.pipeline.events import RunEvents
from segkit.pipeline.image_pipeline import ImagePipeline
from segkit.pipeline.image_result import ImageResult

SWITCH_INTERVAL = 0.0005  # seconds; see LocalEngine.run


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


def cancel_backends(backends: Sequence[ActiveBackend]) -> None:
    """Ctrl-C: ask every backend to give up the calls it is in (a remote request), so the run ends in seconds."""
    for backend in backends:
        try:
            backend.segmenter.cancel()
        except Exception:  # noqa: BLE001 - stopping must go on whatever one backend does
            pass


class LocalEngine(Engine):
    name = "local"

    def run(self, pipeline: ImagePipeline, images: Sequence[Path], backends: list[ActiveBackend],
            events: RunEvents, collect: Callable[[ImageResult], None]) -> EngineRun:
        for backend in backends:
            backend.load(events)
        events.started(len(images), [b.name for b in backends])
        # A backend thread waking from its GPU or HTTP call must get the GIL back at once: waiting out
        # the default 5 ms switch interval behind segkit's own threads would leave the model idle.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            return self._run(pipeline, images, backends, collect)
        finally:
            sys.setswitchinterval(interval)

    def _run(self, pipeline: ImagePipeline, images: Sequence[Path], backends: list[ActiveBackend],
             collect: Callable[[ImageResult], None]) -> EngineRun:
        started = time.perf_counter()
        plan = pipeline.plan
        plan.layout.create()
        if plan.outputs.panels != "none":
            import supervision  # noqa: F401  (the panels' first use would import it mid-run, holding the GIL for a second)
        cores = max(1, plan.cores)
        cpu = threading.BoundedSemaphore(cores)
        pixels = PixelBudget(plan.limits.max_pixels_in_flight)
        # Images in flight: enough to fill every backend's calls while others decode and write.
        window = sum(b.concurrency * b.batch_size for b in backends) + 2 * cores
        calls = BackendCalls(backends)
        infos = {b.name: b.info for b in backends}

        def one(image: Path) -> ImageResult:
            try:
                width, height = image_size(image)
            except Exception as exc:  # an unreadable header: the image fails alone
                return pipeline.failed(image, exc)
            with pixels.hold(width * height):
                return pipeline.process(image, calls.submit, infos, cpu=lambda: cpu, stopped=calls.stop.is_set)

        try:
            with ThreadPoolExecutor(window, thread_name_prefix="image") as pool:
                try:
                    for result in bounded_map(pool, one, images, window, calls.stop.is_set):
                        collect(result)
                except KeyboardInterrupt:
                    calls.stop.set()  # images whose backends have not started are left for the next run
                    cancel_backends(backends)
                    raise
        finally:
            calls.close()
        return EngineRun({b.name: b.stats for b in backends}, time.perf_counter() - started, calls.fatal)
