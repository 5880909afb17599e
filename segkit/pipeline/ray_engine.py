"""`segkit run --engine ray`: the per-image pipeline on a Ray cluster, as a Ray Data pipeline.

    images ─► backend A ─► backend B ─► … ─► backend Z ─► this process (the driver)
              actor pool   actor pool        actor pool
              + prepare                      + finish

* **each backend** (an actor pool, ``map_batches`` with a callable class): an actor creates and loads its
  backend once (from its ``BackendSpec``, through the plugin host, as the driver did), then runs
  ``ImagePipeline.segment`` for that backend on the images it is given, calling the model through the
  same ``BackendCalls`` as the local engine (box chunks, up to ``batch_size`` images per
  ``segment_batch`` call with the one-at-a-time fallback). A GPU backend gets ``--gpus-per-actor`` GPUs
  per actor; a remote API backend (``max_concurrency`` > 1) gets CPU actors that keep that many requests
  in flight;
* **prepare**, in the first backend's actors: ``ImagePipeline.triage`` (an image complete in the output
  folder is skipped, so resume is shared with the local engine) and ``decode``;
* **finish**, in the last backend's actors: ``ImagePipeline.finish`` (backend records, pair IoUs, panel,
  the image record last);
* an actor takes ``IMAGES_PER_BATCH`` images per call and runs them on its own threads, segkit's own work
  (decode, masks, outputs) under a gate of its node's cores and its decoded pixels under the pixel budget
  (``limits.max_pixels_in_flight``, per actor), as the local engine does: one backend is one stage, and
  an image's pixels never leave the actor that decoded them; the actors run at niceness 0, not Ray's 15
  for workers, as their threads do what the local engine does at normal priority;
* the driver hands each image's ``ImageResult`` to the job as it arrives.

A row holds one image: its place in the run's list, path and detections on the way in; its state, pickled,
between backends (its pixels, the compact masks of the backends so far); its result on the way out. Ray
Data streams the rows and holds back when the object store fills, so memory does not grow with the
dataset. Ray restarts an actor that dies (a killed process, out of memory) and retries its images; files
are written whole and the image record last, so a retried image is simply written again.
"""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Sequence
from urllib.parse import urlsplit

from segkit.config import RaySettings
from segkit.errors import BackendFatalError, InputError, SegkitError, one_line
from segkit.inputs.detection_files import DetectionIndex
from segkit.inputs.images import image_size
from segkit.machine import machine_cores
from segkit.outputs.files import remove_stale_temp_files
from segkit.pipeline.backend_calls import BackendCalls
from segkit.pipeline.backends import ActiveBackend, BackendSpec, BackendStats, activate
from segkit.pipeline.engine import Engine, EngineRun
from segkit.pipeline.events import RunEvents
from segkit.pipeline.image_pipeline import DecodedImage, ImagePipeline, SegmentedImage
from segkit.pipeline.image_result import ImageResult
from segkit.pipeline.local_engine import PixelBudget
from segkit.redact import redact

INSTALL = "pip install 'segkit[ray]'"
CONNECT_TIMEOUT_S = 5.0
# Images per block of the run's image list: fewer keeps the images streaming; past MAX_INPUT_BLOCKS blocks they grow, so that a million images
# are not a million blocks.
IMAGES_PER_BLOCK = 8  # measured on 2 cores: 54 CPU ms of Ray per image instead of 90 with 1
MAX_INPUT_BLOCKS = 20_000
# Images per call of a backend's actor (at least its batch_size x max_concurrency): they go through on
# the actor's threads together, so more keeps its cores and its model busy across a batch's first and last images.
IMAGES_PER_BATCH = 16  # measured on 2 cores, one backend: 0.78 of the local engine's images/s, 0.62 with 32
# Ray starts its workers at niceness 15; an actor decodes and writes (segkit's own work, which the local
# engine does at normal priority), so its actors run at 0 (as Ray's own job supervisor does; it costs
# the actor's start about 0.8 s here). Measured on 2
# cores shared with another process's work, one backend, in one run: 23.1 images/s at 0, 18.7 at 15.
WORKER_NICENESS = "0"
# Ray restarts a dead actor and resends its batch; an image that kills its actor every time (out of
# memory) stops the run after this many tries instead of looping.
MAX_TASK_RETRIES = 3


def _pack(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Any:
    return pickle.loads(data)


@dataclass
class ImageState:
    """One image on its way through the stages."""

    index: int  # its place in the run's image list
    result: ImageResult  # final once ``decoded`` is None
    decoded: DecodedImage | None = None
    masks: SegmentedImage = field(default_factory=SegmentedImage)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)  # backend -> plugin and settings
    fatal: str | None = None
    load_error: str | None = None
    stats: dict[str, BackendStats] = field(default_factory=dict)  # counts handed back to the driver


# -- stages (run in Ray actors) ----------------------------------------------------------------


def prepare_image(pipeline: ImagePipeline, index: int, image: Path, entry: Any, error: str | None,
                  room: Callable[[Path], None] = lambda image: None,
                  cpu: Callable[[], ContextManager[Any]] = nullcontext) -> ImageState:
    """Triage and decode one image (in the first backend's actor); ``room`` waits until the image's
    pixels fit in memory, ``cpu`` guards the decoding."""
    state = ImageState(index, ImageResult(image, "done"))
    try:
        step = pipeline.triage(image, entry, error)
        if isinstance(step, ImageResult):
            state.result = step
            return state
        room(image)
        with cpu():
            started = time.perf_counter()
            state.decoded = pipeline.decode(step)
            state.result.seconds["decode"] = time.perf_counter() - started
    except Exception as exc:  # a bad image fails that image only
        state.result = pipeline.failed(image, exc)
    return state


def finish_state(pipeline: ImagePipeline, state: ImageState) -> None:
    """Write the image's records and panel (in the last backend's actor); its result is final then."""
    if state.decoded is not None:
        started = time.perf_counter()
        seconds = state.result.seconds
        try:
            state.result = pipeline.finish(state.decoded, state.masks, state.infos)
        except Exception as exc:  # a full disk, a bug on one image: that image fails
            state.result = pipeline.failed(state.result.image, exc)
        state.result.seconds = {**seconds, "outputs": time.perf_counter() - started}
        state.decoded = None
    state.masks = SegmentedImage()


class BackendStage:
    """Ray Data callable class: one backend, created and loaded once per actor. The first backend's
    actors also prepare the images (rows of the run's image list come in), the last one's finish them
    (final states go out); the images of a batch go through on a pool of threads, segkit's own work
    (decode, masks, outputs) under a gate of the node's cores, as in the local engine."""

    def __init__(self, spec: BackendSpec, pipeline: ImagePipeline, rows: int, first: bool = True, last: bool = True):
        from segkit.plugins.host import get_host

        self.name = spec.name
        self.pipeline = pipeline
        self.first, self.last = first, last
        self.cpu = threading.BoundedSemaphore(machine_cores())
        # As in the local engine: an image waits before decoding until the images in flight in this actor
        # leave room, so its memory does not grow with the images' size.
        self.pixels = PixelBudget(pipeline.plan.limits.max_pixels_in_flight)
        self.load_error: str | None = None
        self.backend: ActiveBackend | None = None
        try:
            self.backend = activate(get_host(), spec)
            self.backend.load()
        except SegkitError as exc:  # reported by the driver as the local engine reports it
            self.load_error = str(exc)
        except Exception as exc:
            self.load_error = f"backend {spec.name!r} failed to load here: {exc}"
        if self.backend is not None and self.load_error is None:
            self.calls = BackendCalls([self.backend])
            # Every image of a batch at once: the backend worker calls the model as the local engine
            # does (batches, requests in flight) while other images decode and write.
            self.pool = ThreadPoolExecutor(rows, thread_name_prefix=f"{spec.name}-image")

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        blobs = batch["item" if self.first else "state"]
        if self.load_error is not None:
            states = [self._unusable(blob) for blob in blobs]
        else:
            states = list(self.pool.map(self._image, blobs))
        if states and self.backend is not None:
            # The counts of this batch (an actor takes one batch at a time, so a batch retried after its
            # actor died counts once).
            states[0].stats[self.name] = self.backend.take_stats()
        return {"state": [_pack(state) for state in states]}

    def _unusable(self, blob: bytes) -> ImageState:
        """An image this actor cannot segment (its backend did not load): the driver stops the run."""
        if self.first:
            index, image, _, _ = _unpack(blob)
            state = ImageState(index, ImageResult(image, "not-run"))
        else:
            state = _unpack(blob)
        state.masks.stopped = True
        state.fatal = state.load_error = self.load_error
        return state

    def _image(self, blob: bytes) -> ImageState:
        if not self.first:
            return self._segment_and_finish(_unpack(blob))
        with ExitStack() as held:  # the image's pixels, from its decoding until it leaves this actor

            def room(image: Path) -> None:
                width, height = image_size(image)  # (0, 0) if unreadable: decode says why
                held.enter_context(self.pixels.hold(width * height))

            state = prepare_image(self.pipeline, *_unpack(blob), room=room, cpu=lambda: self.cpu)
            return self._segment_and_finish(state)

    def _segment_and_finish(self, state: ImageState) -> ImageState:
        self._segment(state)
        if self.last:
            with self.cpu:
                finish_state(self.pipeline, state)
        return state

    def _segment(self, state: ImageState) -> None:
        assert self.backend is not None
        state.infos[self.name] = self.backend.info
        if state.decoded is None:
            return
        try:
            state.masks.merge(self.pipeline.segment(state.decoded, self.calls.submit, names=[self.name], cpu=lambda: self.cpu))
        except Exception as exc:  # as the local engine: the image fails, the run goes on
            state.masks.discard()
            state.result, state.decoded = self.pipeline.failed(state.result.image, exc), None
            return
        if self.calls.fatal:
            state.fatal = state.fatal or self.calls.fatal


# -- the driver ---------------------------------------------------------------------------------


def _reachable(address: str) -> tuple[str, int] | None:
    """(host, port) of a HOST:PORT or ray://HOST:PORT address that does not answer; None if it does."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None  # not HOST:PORT: Ray says what is wrong with it
    if not host or not port:
        return None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError:
        return host, port


class RayEngine(Engine):
    name = "ray"

    def __init__(self, settings: RaySettings, owns_ray: bool):
        self.settings = settings
        self.owns_ray = owns_ray  # this run started or joined Ray and ends its connection

    @classmethod
    def connect(cls, settings: RaySettings) -> "RayEngine":
        """Join the cluster (or start a local Ray when no address is given); one line if that fails."""
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError:
            raise InputError(f"--engine ray needs Ray, which is not installed here: {INSTALL}, or use --engine local") from None
        address = settings.address
        if address and address != "auto":
            down = _reachable(address)
            if down is not None:
                raise InputError(f"--ray-address {address}: nothing answers at {down[0]}:{down[1]}; start the cluster"
                                 " (`ray start --head`), check the address, or leave --ray-address out to run on this machine")
        if ray.is_initialized():  # already connected (a notebook, a Ray job, the tests)
            return cls(settings, owns_ray=False)
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                     **({} if address else {"include_dashboard": False}))
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
            raise InputError(f"--ray-address {address}: cannot join the Ray cluster ({redact(str(exc).splitlines()[0])});"
                             " start it with `ray start --head`, pass its address, or leave --ray-address out") from None
        return cls(settings, owns_ray=True)

    def close(self) -> None:
        if self.owns_ray:
            import ray

            ray.shutdown()
            self.owns_ray = False

    # -- resources ------------------------------------------------------------------------------

    def placement(self, backends: Sequence[ActiveBackend], warn: Any) -> dict[str, Share]:
        """``placement`` on this cluster; GPUs asked of a cluster that has none is one line (Ray would wait
        for them for ever), more CPUs or GPUs than it has now is a warning (an autoscaler may add them)."""
        import ray

        resources = ray.cluster_resources()
        gpus, cpus = float(resources.get("GPU", 0.0)), float(resources.get("CPU", 0.0))
        shares = placement(self.settings, backends, gpus, cpus)
        want_gpus = sum(s.actors * s.gpus for s in shares.values())
        want_cpus = sum(s.actors * s.cpus for s in shares.values()) + 1  # + 1: decoding and writing
        if want_gpus and not gpus:
            raise InputError(f"--gpus-per-actor {self.settings.gpus_per_actor:g}: the Ray cluster has no GPUs;"
                             " pass --gpus-per-actor 0 or join a cluster with GPUs")
        if want_gpus > gpus or want_cpus > cpus:
            warn(f"the backends' actors need {want_gpus:g} GPUs and {want_cpus:g} CPUs with decoding and writing, the Ray"
                 f" cluster has {gpus:g} and {cpus:g} now: the run waits until it has them (lower --actors,"
                 " --gpus-per-actor or ray.cpus_per_actor)")
        return shares

    # -- a run ----------------------------------------------------------------------------------

    def run(self, pipeline: ImagePipeline, images: Sequence[Path], backends: list[ActiveBackend],
            events: RunEvents, collect: Callable[[ImageResult], None]) -> EngineRun:
        try:
            return self._run(pipeline, images, backends, events, collect)
        finally:
            self.close()
            remove_stale_temp_files(pipeline.plan.layout)  # of writers killed mid-write (their images were redone)

    def _run(self, pipeline: ImagePipeline, images: Sequence[Path], backends: list[ActiveBackend],
             events: RunEvents, collect: Callable[[ImageResult], None]) -> EngineRun:
        import ray
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI draws its own
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # what matters reaches the user as segkit's lines

        plan = pipeline.plan
        names = [b.name for b in backends]
        # What every worker gets, once: the pipeline without the run's detection index (each image's
        # detections travel with it).
        shipped = ImagePipeline(replace(plan, detections=DetectionIndex(), cores=max(1, int(self.settings.cpus_per_actor or 1))),
                                pipeline.names, pipeline.concept)
        items = []
        for index, image in enumerate(images):
            _, entry, error = plan.detections.lookup(image)  # the driver's index knows which entries were used
            items.append({"item": _pack((index, image, entry, error))})
        if not items:
            events.started(0, names)
            return EngineRun({name: BackendStats() for name in names})

        blocks = min(-(-len(items) // IMAGES_PER_BLOCK), MAX_INPUT_BLOCKS)
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        shares = self.placement(backends, events.warning).values()
        for position, (backend, share) in enumerate(zip(backends, shares)):
            rows = max(IMAGES_PER_BATCH, backend.batch_size * backend.concurrency)
            with warnings.catch_warnings():  # max_task_retries is passed as a remote arg, deprecated in Ray 2.60
                warnings.simplefilter("ignore", DeprecationWarning)
                dataset = dataset.map_batches(
                    BackendStage,
                    fn_constructor_kwargs={"spec": backend.spec, "pipeline": shipped, "rows": rows,
                                           "first": position == 0, "last": position == len(backends) - 1},
                    batch_size=rows,
                    compute=ray.data.ActorPoolStrategy(size=share.actors),
                    num_gpus=share.gpus,
                    num_cpus=share.cpus,
                    max_restarts=-1,
                    max_task_retries=MAX_TASK_RETRIES,
                    runtime_env={"env_vars": {"RAY_worker_niceness": WORKER_NICENESS}},
                )

        stats = {name: BackendStats() for name in names}
        fatal: str | None = None
        shown: set[str] = set()
        events.started(len(images), names)
        started = time.perf_counter()
        rows = iter(dataset.iter_rows())
        try:
            for row in rows:
                state: ImageState = _unpack(row["state"])
                for name, taken in state.stats.items():
                    stats[name].add(taken)
                if state.load_error:  # as the local engine: a backend that cannot load stops the run
                    raise BackendFatalError(state.load_error)
                # Workers each warn once per detection file (boxes outside their space); say it once.
                state.result.warnings = [w for w in state.result.warnings if w not in shown]
                shown.update(state.result.warnings)
                collect(state.result)
                if state.fatal:
                    fatal = state.fatal
                    break  # the images not finished yet are left for the next run, as with the local engine
        except ray.exceptions.RayError as exc:  # retries spent, or the cluster went away: a fatal stop
            fatal = f"the Ray cluster gave up ({one_line(exc, 300)}); the images written are kept, run again to go on"
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the pipeline's tasks and actors
        return EngineRun(stats, time.perf_counter() - started, fatal)


@dataclass(frozen=True)
class Share:
    """What one backend gets: actors, and GPUs and CPUs per actor."""

    actors: int
    gpus: float
    cpus: float


def placement(settings: RaySettings, backends: Sequence[ActiveBackend], gpus: float, cpus: float) -> dict[str, Share]:
    """Each backend's actors. A backend that runs a model here (``max_concurrency`` 1) gets
    ``--gpus-per-actor`` GPUs per actor, by default 1, or its share when there are fewer GPUs than such
    backends, and by default as many actors as the GPUs allow; a remote API backend (``max_concurrency``
    > 1) gets CPU actors, each keeping that many requests in flight. With no GPUs: one actor each.
    An actor takes ``cpus_per_actor`` CPUs, by default 1, or less on a small cluster, so that the actors
    leave half the CPUs to decoding and writing (Ray's count only: the first and last backends' actors
    decode and write on their own threads, under a gate of their node's cores)."""
    local = [b for b in backends if b.concurrency == 1]
    counts: dict[str, tuple[int, float]] = {}
    for backend in backends:
        per_actor = 0.0
        if backend.concurrency == 1:
            if settings.gpus_per_actor is not None:
                per_actor = settings.gpus_per_actor
            elif gpus:
                per_actor = min(1.0, gpus / len(local))
        if settings.actors is not None:
            actors = settings.actors
        elif per_actor:
            actors = max(1, int(gpus / len(local) / per_actor + 1e-9))
        else:
            actors = 1
        counts[backend.name] = (actors, per_actor)
    per_cpu = settings.cpus_per_actor
    if per_cpu is None:
        total = sum(actors for actors, _ in counts.values())
        per_cpu = min(1.0, cpus / 2 / total) if cpus and total else 1.0
    return {name: Share(actors, per_gpu, per_cpu) for name, (actors, per_gpu) in counts.items()}
