"""What a job tells its caller as it goes. Override the methods you need: the CLI prints them, a notebook
may collect them, a benchmark times them. Every message is already redacted (no secrets)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from segkit.pipeline.image_result import ImageResult


class RunEvents:
    def warning(self, message: str) -> None:
        """A problem that does not stop anything."""

    @contextmanager
    def loading(self, backend: str) -> Iterator[None]:
        """Around loading one backend's model."""
        yield

    def started(self, images: int, backends: list[str]) -> None:
        """Segmenting begins: ``images`` to go through."""

    def image_done(self, result: ImageResult) -> None:
        """One image finished (in the order they finish)."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A closing step begins: "scoring", "page" (``total`` images when known)."""

    def stage_advanced(self) -> None:
        """One more image of the current closing step."""
