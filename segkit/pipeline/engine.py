"""Where a run's work happens. An engine schedules the per-image pipeline (``ImagePipeline``): it decides
where and when each image's steps run; the pipeline decides what is written, so engines write the same
files. Two engines: ``local`` (threads in this process) and ``ray`` (a Ray cluster), chosen by --engine.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Sequence

from segkit.pipeline.backends import ActiveBackend, BackendStats
from segkit.pipeline.events import RunEvents
from segkit.pipeline.image_pipeline import ImagePipeline
from segkit.pipeline.image_result import ImageResult


@dataclass
class EngineRun:
    """What an engine reports once every image is through (the images themselves went to ``collect``)."""

    backends: dict[str, BackendStats] = field(default_factory=dict)
    seconds: float = 0.0
    fatal: str | None = None  # what stopped the run early (a backend that cannot go on)


class Engine(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def run(self, pipeline: ImagePipeline, images: Sequence[Path], backends: list[ActiveBackend],
            events: RunEvents, collect: Callable[[ImageResult], None]) -> EngineRun:
        """Put every image through ``pipeline`` with ``backends`` (created and ready, not yet loaded); call
        ``collect`` in this thread with each image's result as it finishes. Ctrl-C (KeyboardInterrupt)
        stops taking images, lets those in flight finish whole, and is raised again."""

    def close(self) -> None:
        """Let go of what the engine holds (a cluster connection)."""
