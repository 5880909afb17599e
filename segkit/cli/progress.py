"""The one progress display of every command: a bar on a terminal (nothing when piped), with warnings and
failures printed above it as they happen."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from segkit.cli.app import err_console, failed, warn
from segkit.pipeline.events import RunEvents

STAGES = {"scoring": "scoring against ground truth", "page": "writing report.html"}


def make_progress(transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=transient,
        disable=not err_console.is_terminal,
    )


class CliEvents(RunEvents):
    """Prints what a job says as it goes. Use as a context manager: the display ends with the block."""

    def __init__(self, description: str = "", total: int | None = None, transient: bool = False):
        self.progress = make_progress(transient)
        self.description = description
        self.total = total
        self.task: TaskID | None = None

    def __enter__(self) -> "CliEvents":
        self.progress.start()
        if self.description:
            self.task = self.progress.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.progress.stop()

    # -- what a job says ---------------------------------------------------------------------------

    def warning(self, message: str) -> None:
        warn(message, self.progress.console)

    def failure(self, message: str) -> None:
        failed(message, self.progress.console)

    @contextmanager
    def loading(self, backend: str) -> Iterator[None]:
        with err_console.status(f"loading {backend}…"):
            yield

    def started(self, images: int, backends: list[str]) -> None:
        self._task(f"segmenting with {', '.join(backends)}", images)

    def image_done(self, result: Any) -> None:
        for message in getattr(result, "warnings", ()):
            self.warning(message)
        for backend, message in getattr(result, "errors", ()):
            self.failure(f"{backend}: {message}" if backend else message)
        self.advance()

    def stage(self, name: str, total: int | None = None) -> None:
        self._task(STAGES.get(name, name), total)

    def stage_advanced(self) -> None:
        self.advance()

    def advance(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def _task(self, description: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(description, total=total)
