"""`segkit run --engine ray`: the same job on a Ray cluster, as a Ray Data pipeline.

    images ─► prepare ─► backend A ─► backend B ─► … ─► finish ─► this process (the driver)
              tasks      actor pool   actor pool         tasks

* **prepare** (Ray tasks): ``triage`` (an image complete in the output folder is skipped, so resume
  is shared with the local engine) and ``decode``;
* **each backend** (an actor pool, ``map_batches`` with a callable class): an actor creates and loads
  the model once, then segments the images it is given with the local engine's own code
  (``Runner.segment``: box chunks, up to ``batch_size`` images per ``segment_batch`` call with the
  one-at-a-time fallback, masks into a ``MaskSink``, mask files written as they arrive). A GPU backend
  gets ``--gpus-per-actor`` GPUs per actor; a remote API backend (``max_concurrency`` > 1) gets CPU
  actors that keep that many requests in flight;
* **finish** (Ray tasks): ``write_outputs`` (backend records, pair IoUs, panel, the image record last);
* the driver gathers each image's outcome, the backends' counts and the COCO annotations, and writes
  failures.json, the report and the COCO files as a local run does.

Every step is ``segkit.pipeline.image_steps``'s, so the files are the ones the local engine writes. A row holds
one image's state, pickled (its pixels, the compact masks of the backends so far); Ray Data streams
the rows and holds back when the object store fills, so memory does not grow with the dataset. Ray
restarts an actor that dies (a killed process, out of memory) and retries its images; files are
written whole and the image record last, so a retried image is simply written again.
"""

from __future__ import annotations

import logging
import pickle
import socket
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from segkit.config import RaySettings
from segkit.errors import BackendFatalError, InputError, SegkitError, one_line
from segkit.inputs.detection_files import DetectionIndex
from segkit.outputs.coco import CocoExport
from segkit.outputs.files import remove_stale_temp_files
from segkit.outputs.image_writer import MaskSink
from segkit.pipeline.image_steps import (
    BackendStats,
    DecodedImage,
    ImageOutcome,
    RunPlan,
    RunSummary,
    conclude,
    decode,
    discard,
    failure_outcome,
    triage_found,
)
from segkit.pipeline.local_engine import ActiveBackend, Runner
from segkit.redact import redact

INSTALL = "pip install 'segkit[ray]'"
CONNECT_TIMEOUT_S = 5.0
# Images per block (and per prepare or finish task): more spreads Ray's cost per task over more images,
# fewer keeps the images streaming; past MAX_INPUT_BLOCKS blocks they grow, so that a million images
# are not a million blocks.
IMAGES_PER_BLOCK = 8  # measured on 2 cores: 54 CPU ms of Ray per image instead of 90 with 1
MAX_INPUT_BLOCKS = 20_000
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
    image: Path
    outcome: ImageOutcome
    decoded: DecodedImage | None = None  # None: nothing (more) to do, the outcome is final
    sinks: dict[str, MaskSink] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)  # backend -> plugin and settings
    stopped: bool = False  # a backend was stopped (fatal error) before it reached the image
    fatal: str | None = None
    load_error: str | None = None
    stats: dict[str, BackendStats] = field(default_factory=dict)  # counts handed back to the driver
    coco: CocoExport | None = None  # this image's COCO annotations (--coco)


# -- stages (run in Ray workers) ----------------------------------------------------------------


def prepare_images(batch: dict[str, Any], plan: RunPlan, names: Sequence[str]) -> dict[str, list[bytes]]:
    """Ray task: triage and decode each image of the batch."""
    return {"state": [_pack(prepare_image(plan, names, *_unpack(item))) for item in batch["item"]]}


def prepare_image(plan: RunPlan, names: Sequence[str], index: int, image: Path, entry: Any, error: str | None) -> ImageState:
    coco = CocoExport() if plan.coco is not None else None
    state = ImageState(index, image, ImageOutcome(image, "done"), coco=coco)
    try:
        task = triage_found(replace(plan, coco=coco), names, image, entry, error)
        if isinstance(task, ImageOutcome):
            state.outcome = task
            return state
        started = time.perf_counter()
        state.decoded = decode(plan, task)
        state.outcome.seconds["decode"] = time.perf_counter() - started
        state.outcome.warnings += state.decoded.warnings
    except Exception as exc:  # a bad image fails that image only
        state.outcome = failure_outcome(plan, image, exc)
    return state


class BackendStage:
    """Ray Data callable class: one backend, created and loaded once per actor."""

    def __init__(self, job: Any, name: str, plan: RunPlan):
        from segkit.pipeline.job import RunEvents, load_backends, prepare_backends
        from segkit.plugins.host import get_host

        self.name = name
        self.plan = plan
        self.load_error: str | None = None
        self.backend: ActiveBackend | None = None
        try:
            self.backend = prepare_backends(get_host(), job.model_copy(update={"backends": [name]}))[0]
            load_backends([self.backend], RunEvents())
        except SegkitError as exc:  # reported by the driver as the local engine reports it
            self.load_error = str(exc)
        except Exception as exc:
            self.load_error = f"backend {name!r} failed to load here: {exc}"
        self.runner: Runner | None = None
        if self.load_error is None:
            self.runner = Runner(plan, [self.backend])  # type: ignore[list-item]
            self.runner.start_workers()
            # A call brings batch_size x max_concurrency images: all of them are handed to the backend
            # worker at once, which calls the model as the local engine does (batches, requests in flight).
            rows = self.backend.batch_size * self.backend.concurrency  # type: ignore[union-attr]
            self.pool = ThreadPoolExecutor(rows, thread_name_prefix=f"{name}-image")

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        states = [_unpack(blob) for blob in batch["state"]]
        if self.runner is None:
            for state in states:
                self._stopped(state, self.load_error)
        else:
            list(self.pool.map(self._segment, states))
        if states:
            states[0].stats[self.name] = self._take_stats()
        return {"state": [_pack(state) for state in states]}

    def _segment(self, state: ImageState) -> None:
        runner, backend = self.runner, self.backend
        assert runner is not None and backend is not None
        state.infos[self.name] = backend.info
        if state.decoded is None:
            return
        try:
            sinks, failed, seconds, stopped = runner.segment(state.decoded, state.outcome)
        except Exception as exc:  # as the local engine: the image fails, the run goes on
            discard(state.sinks)
            state.outcome, state.decoded = failure_outcome(self.plan, state.image, exc), None
            return
        state.sinks.update(sinks)
        state.failed.update(failed)
        state.seconds.update(seconds)
        state.stopped = state.stopped or stopped
        if runner.fatal:
            state.fatal = state.fatal or runner.fatal

    def _stopped(self, state: ImageState, reason: str | None) -> None:
        state.stopped = True
        state.fatal = state.load_error = reason

    def _take_stats(self) -> BackendStats:
        """The counts of this batch (an actor takes one batch at a time, so a batch retried after its actor
        died counts once)."""
        if self.backend is None:
            return BackendStats()
        with self.backend.lock:
            taken, self.backend.stats = self.backend.stats, BackendStats()
        return taken


def finish_images(batch: dict[str, Any], plan: RunPlan, names: Sequence[str]) -> dict[str, list[bytes]]:
    """Ray task: write each image's records and panel; hand its outcome back to the driver."""
    results = []
    for blob in batch["state"]:
        state: ImageState = _unpack(blob)
        if state.decoded is not None:
            infos = [(name, state.infos.get(name, {})) for name in names]
            started = time.perf_counter()
            try:
                state.outcome = conclude(replace(plan, coco=state.coco), state.decoded, infos, state.sinks,
                                         state.failed, state.seconds, state.stopped, state.outcome)
            except Exception as exc:  # a full disk, a bug on one image: that image fails
                state.outcome = failure_outcome(plan, state.image, exc)
            state.outcome.seconds["outputs"] = state.outcome.seconds.get("outputs", 0.0) + time.perf_counter() - started
            state.decoded = None
        state.sinks = {}
        results.append(_pack(state))
    return {"state": results}


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


class RayEngine:
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

    def run(self, job: Any, plan: RunPlan, active: list[ActiveBackend], events: Any) -> RunSummary:
        try:
            return self._run(job, plan, active, events)
        finally:
            self.close()
            remove_stale_temp_files(plan.layout)  # of writers killed mid-write (their images were redone)

    def _run(self, job: Any, plan: RunPlan, active: list[ActiveBackend], events: Any) -> RunSummary:
        import ray
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI draws its own
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # what matters reaches the user as segkit's lines

        names = [b.name for b in active]
        # What every worker gets, once: the plan without the image list and the detections (each
        # image's detections travel with it) and with a marker for --coco instead of the collector.
        shipped = replace(plan, images=[], detections=DetectionIndex(),
                          coco=CocoExport() if plan.coco is not None else None,
                          cores=max(1, int(self.settings.cpus_per_actor or 1)))
        items = []
        for index, image in enumerate(plan.images):
            _, entry, error = plan.detections.lookup(image)  # the driver's index knows which entries were used
            items.append({"item": _pack((index, image, entry, error))})
        if not items:
            events.started(0, names)
            return RunSummary([], {name: BackendStats() for name in names}, 0.0)

        blocks = min(-(-len(items) // IMAGES_PER_BLOCK), MAX_INPUT_BLOCKS)
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        dataset = dataset.map_batches(prepare_images, batch_size=None, fn_kwargs={"plan": shipped, "names": names})
        for backend, share in zip(active, self.placement(active, events.warning).values()):
            with warnings.catch_warnings():  # max_task_retries is passed as a remote arg, deprecated in Ray 2.60
                warnings.simplefilter("ignore", DeprecationWarning)
                dataset = dataset.map_batches(
                    BackendStage,
                    fn_constructor_kwargs={"job": job, "name": backend.name, "plan": shipped},
                    batch_size=backend.batch_size * backend.concurrency,
                    compute=ray.data.ActorPoolStrategy(size=share.actors),
                    num_gpus=share.gpus,
                    num_cpus=share.cpus,
                    max_restarts=-1,
                    max_task_retries=MAX_TASK_RETRIES,
                )
        dataset = dataset.map_batches(finish_images, batch_size=None, fn_kwargs={"plan": shipped, "names": names})

        stats = {name: BackendStats() for name in names}
        outcomes: dict[int, ImageOutcome] = {}
        fatal: str | None = None
        shown: set[str] = set()
        events.started(len(plan.images), names)
        started = time.perf_counter()
        rows = iter(dataset.iter_rows())
        try:
            for row in rows:
                state: ImageState = _unpack(row["state"])
                for name, taken in state.stats.items():
                    add_stats(stats[name], taken)
                if state.load_error:  # as the local engine: a backend that cannot load stops the run
                    raise BackendFatalError(state.load_error)
                if state.coco is not None and plan.coco is not None:
                    plan.coco.merge(state.coco)
                outcomes[state.index] = state.outcome
                # Workers each warn once per detection file (boxes outside their space); say it once.
                state.outcome.warnings = [w for w in state.outcome.warnings if w not in shown]
                shown.update(state.outcome.warnings)
                events.image_done(state.outcome)
                if state.fatal:
                    fatal = state.fatal
                    break  # the images not finished yet are left for the next run, as with the local engine
        except ray.exceptions.RayError as exc:  # retries spent, or the cluster went away: a fatal stop
            fatal = f"the Ray cluster gave up ({one_line(exc, 300)}); the images written are kept, run again to go on"
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the pipeline's tasks and actors
        ordered = [outcomes.get(i) or ImageOutcome(image, "not-run") for i, image in enumerate(plan.images)]
        return RunSummary(ordered, stats, time.perf_counter() - started, fatal)


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
    leave half the CPUs to decoding and writing (tasks that would otherwise wait for ever)."""
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


def add_stats(total: BackendStats, part: BackendStats) -> None:
    """Counts and seconds add up over batches; the load time is the slowest actor's."""
    for item in fields(BackendStats):
        if item.name == "load_seconds":
            total.load_seconds = max(total.load_seconds, part.load_seconds)
        else:
            setattr(total, item.name, getattr(total, item.name) + getattr(part, item.name))
