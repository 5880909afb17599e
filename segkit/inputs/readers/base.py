"""The detector-input contract: a reader turns one detection file into raw detections per image."""

from __future__ import annotations

import abc
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from segkit.errors import InputError, exception_text
from segkit.inputs.box_spaces import BoxSpace
from segkit.inputs.detections import RawDetection
from segkit.text import preview


def log_warning(message: str) -> None:
    logging.getLogger("segkit").warning(message)


@dataclass(frozen=True)
class ReaderContext:
    """What the user told segkit about the detector's output, and where a reader's warnings go."""

    # What the boxes of a format that does not fix its own space are measured in (``--box-space``):
    # pixels of a resized input, 0..1000, ... None means the reader's default (pixels of the image).
    box_space: BoxSpace | None = None
    # ``warn(message)``: something the user should hear about a file that was still read (an answer cut
    # off, objects dropped). load_detections gathers them in DetectionIndex.warnings, which `segkit run`
    # prints, unless the caller gives its own; a reader called directly logs them to the "segkit" logger.
    warn: Callable[[str], None] = field(default=log_warning, compare=False, repr=False)

    @property
    def input_space(self) -> BoxSpace | None:
        """The box space under its name before ``--box-space`` (``--input-size``)."""
        return self.box_space


class DetectionFormatError(InputError):
    """A detection file that its reader cannot read; the message names the file and the fix."""

    def __init__(self, path: Path, problem: str, fix: str = "fix the file or pick another --reader"):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}; {fix}")


class DetectionReader(abc.ABC):
    """Base class of detection readers.

    ``read`` returns detections keyed by image: a file stem (``"0001"``) or file name (``"0001.jpg"``).
    A file that holds one image's detections keys them by its own stem.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = (".json",)

    @abc.abstractmethod
    def sniff(self, data: Any, path: Path) -> bool:
        """True if ``data`` (the file parsed by ``parse``) looks like this reader's format."""

    @abc.abstractmethod
    def read(self, data: Any, path: Path, context: ReaderContext) -> dict[str, list[RawDetection]]:
        """Raw detections per image key; raise DetectionFormatError for a malformed file."""

    def parse(self, text: str, path: Path) -> Any:
        """Parse the file's text; JSON by default, with a Markdown ```json fence allowed around it."""
        return parse_json_text(text, path)


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_json_text(text: str, path: Path) -> Any:
    """JSON, or JSON inside a Markdown code fence as chat models often answer."""
    body = text.strip()
    match = None if body[:1] in "[{" else _FENCE.search(body)  # a fence inside a JSON string is data
    if match:
        body = match.group(1).strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise DetectionFormatError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError:
        raise DetectionFormatError(path, "JSON nested too deeply to read (lists or objects inside one another)") from None
    except ValueError as exc:  # an integer longer than Python converts (4300 digits)
        reason = exception_text(exc, 160).split(";")[0]
        raise DetectionFormatError(path, f"JSON that cannot be read ({reason})") from None


def number(value: Any, path: Path, where: str) -> float:
    """A JSON number or numeric string, else a DetectionFormatError naming ``where``.

    NaN and infinities are returned as they are: resolving the detection skips it with the reason.
    """
    if isinstance(value, bool):
        raise DetectionFormatError(path, f"{where} is {preview(value)}, expected a number")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float range
        raise DetectionFormatError(path, f"{where} is {preview(value)}, expected a number") from None


def four_numbers(value: Any, path: Path, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DetectionFormatError(path, f"{where} is {preview(value)}, expected a list of 4 numbers")
    return tuple(number(v, path, where) for v in value)  # type: ignore[return-value]
