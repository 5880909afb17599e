"""Errors segkit reports to the user as one line (what, where, how to fix) and a non-zero exit."""

from __future__ import annotations


class SegkitError(Exception):
    """An expected problem the user can fix; its message is the whole story, shown without a traceback."""

    exit_code = 2


class ConfigError(SegkitError):
    """A setting, flag or option value that segkit cannot use."""


class InputError(SegkitError):
    """A missing or unreadable input: image folder, image file, detection file."""


class UnknownBackendError(SegkitError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        listing = ", ".join(known) if known else "none (no segmenter plugin is installed)"
        super().__init__(f"unknown backend {name!r}; known backends: {listing} (see `segkit backends`)")


class UnknownReaderError(SegkitError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown detection reader {name!r}; known readers: {', '.join(known)}")


class UnknownDetectorError(SegkitError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        listing = ", ".join(known) if known else "none (install a detector plugin: pip install segkit-vlm)"
        super().__init__(f"unknown detector {name!r}; known detectors: {listing} (see `segkit plugins`)")


class BackendNotReady(SegkitError):
    """A backend that cannot run here: missing dependency, checkpoint or API key."""


class BackendFatalError(SegkitError):
    """Raised by a backend when going on is pointless (bad API key, model that fails to load).

    The run stops taking new images, keeps what it wrote, and exits non-zero with this message.
    """

    exit_code = 1


class OutputWriteError(SegkitError):
    """A file at the end of a run or compare could not be written (disk full, folder made read-only)."""

    exit_code = 1


class ImageFailed(Exception):
    """One image could not be processed; the run records it and goes on."""


def exception_text(exc: BaseException, limit: int = 400) -> str:
    """The first two non-empty lines of an exception's message, joined and cut to ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(exc: BaseException, limit: int = 400) -> str:
    """An exception as one line: its type (unless it is one of segkit's own) and first lines of text."""
    text = exception_text(exc, limit)
    if isinstance(exc, (SegkitError, ImageFailed)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
