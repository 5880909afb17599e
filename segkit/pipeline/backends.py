"""The backends of a job: created once each (aliases resolved), checked ready, loaded, counted, closed.

A backend travels to another process (a Ray actor) as its ``BackendSpec`` (name and resolved options),
and is created there through the same plugin host, so every engine runs the same code for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from pydantic import BaseModel

from segkit.errors import BackendFatalError, BackendNotReady, SegkitError, one_line
from segkit.pipeline.events import RunEvents
from segkit.plugins.host import PluginHost
from segkit.plugins.options import resolve_options
from segkit.plugins.segmenter import Segmenter


@dataclass
class BackendStats:
    images: int = 0
    boxes: int = 0
    masks: int = 0
    failures: int = 0
    calls: int = 0  # calls to segment / segment_batch
    concepts: int = 0  # a concept backend: concepts asked (its masks are the instances found)
    seconds: float = 0.0  # time inside the backend, summed over images (a batch's time is shared out)
    load_seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float | None:
        return self.seconds / self.images if self.images else None

    def add(self, part: "BackendStats") -> None:
        """Counts and seconds add up over batches and actors; the load time is the slowest actor's."""
        for item in fields(BackendStats):
            if item.name == "load_seconds":
                self.load_seconds = max(self.load_seconds, part.load_seconds)
            else:
                setattr(self, item.name, getattr(self, item.name) + getattr(part, item.name))


@dataclass(frozen=True)
class BackendSpec:
    """What it takes to create a backend anywhere segkit and its plugins are installed."""

    name: str
    options: BaseModel | None = None

    def create(self, host: PluginHost) -> Segmenter:
        return host.backend(self.name).create(self.options)


@dataclass
class ActiveBackend:
    """A backend of this run, created and checked ready (``load`` loads its model)."""

    spec: BackendSpec
    segmenter: Segmenter
    stats: BackendStats = field(default_factory=BackendStats)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def concurrency(self) -> int:
        return max(1, int(self.segmenter.max_concurrency))

    @property
    def batch_size(self) -> int:
        return max(1, int(getattr(self.segmenter, "batch_size", 1) or 1))

    @property
    def info(self) -> dict[str, Any]:
        """Plugin and settings, recorded with every answer."""
        return {"plugin": self.segmenter.__class__.__module__.split(".")[0], "settings": self.segmenter.settings()}

    def load(self, events: RunEvents | None = None) -> None:
        started = time.perf_counter()
        with (events or RunEvents()).loading(self.name):
            try:
                self.segmenter.load()
            except SegkitError:
                raise
            except Exception as exc:
                raise BackendFatalError(f"backend {self.name!r} failed to load: {one_line(exc)}") from exc
        self.stats.load_seconds = time.perf_counter() - started

    def take_stats(self) -> BackendStats:
        """The counts so far, reset (an engine that hands counts back in parts)."""
        with self.lock:
            taken, self.stats = self.stats, BackendStats()
        return taken


def activate(host: PluginHost, spec: BackendSpec) -> ActiveBackend:
    """Create a backend from its spec and check it is ready (BackendNotReady in one line if not)."""
    segmenter = spec.create(host)
    readiness = segmenter.check_ready()
    if not readiness.ready:
        raise BackendNotReady(f"backend {spec.name!r} is not ready: {readiness.reason}")
    return ActiveBackend(spec, segmenter)


def prepare_backends(host: PluginHost, names: Iterable[str], options: Mapping[str, Mapping[str, Any]],
                     overrides: Mapping[str, Mapping[str, str]]) -> list[ActiveBackend]:
    """Every named backend (once each, aliases resolved) with its options from config, environment and
    -O flags, checked ready."""
    active: list[ActiveBackend] = []
    seen: set[str] = set()
    for requested in names:
        entry = host.backend(requested)
        if entry.name in seen:
            continue
        seen.add(entry.name)
        active.append(activate(host, BackendSpec(entry.name, resolve_options(entry.cls, options, overrides))))
    return active


def close_backends(backends: Iterable[ActiveBackend]) -> None:
    """Close every backend, even when one of them fails to close (its error is not the user's problem)."""
    for backend in backends:
        try:
            backend.segmenter.close()
        except Exception:  # noqa: BLE001 - a failing close must not hide the run's outcome
            pass
