"""The detector contract: a detector that segkit runs (`segkit detect`), built-in or a plugin's.

A detector receives one RGB image, (H, W, 3) uint8 and upright, and the user's prompt, and returns its
answer as text in the format of one of segkit's detection readers (``reader``, ``qwen-grounding`` by
default). segkit reads the answer with that reader, so every detector's answers get the same forgiving
parsing (fences, cut-off lists), converts the boxes from the detector's box space (``--box-space``, else
``box_space()``), and writes one detection file per image that `segkit run` reads.

As for segmenters: ``__init__`` and ``check_ready`` stay cheap (they run for `segkit plugins`), heavy
work and clients belong in ``load``, ``settings`` is recorded in every detection file (never secrets),
and a remote detector raises ``max_concurrency`` to have several images in flight. Raise
``ImageFailed`` for one image, ``ConfigError`` when the user's settings cannot work (a refused key, an
unknown model: the run stops, exit 2), ``BackendFatalError`` when the service cannot go on (exit 1).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from segkit.inputs.box_spaces import BoxSpace
from segkit.plugins.segmenter import NoOptions, Readiness


@dataclass(frozen=True)
class DetectorAnswer:
    """A detector's answer for one image."""

    text: str  # the answer as the model gave it, read by the detector's reader and kept in the detection file
    info: dict[str, Any] = field(default_factory=dict)  # recorded with it: the model that answered, tokens, finish reason
    note: str = ""  # added to any warning about this answer, e.g. how to stop it being cut off


class Detector(abc.ABC):
    """Base class of detectors. Options work as for segmenters (``options_key``, ``Options``)."""

    options_key: ClassVar[str | None] = None
    Options: ClassVar[type[BaseModel]] = NoOptions
    reader: ClassVar[str] = "qwen-grounding"  # the detection reader that reads this detector's answers
    max_concurrency: int = 1

    def __init__(self, name: str, options: BaseModel | None = None, **params: Any):
        self.name = name
        self.options = options if options is not None else self.Options()
        self.params = params

    def check_ready(self) -> Readiness:
        """Cheap check that the detector could run: dependency importable, model named, server set."""
        return Readiness.ok()

    def load(self) -> None:
        """Load models or open clients; called once per run before the first image."""

    @abc.abstractmethod
    def detect(self, image: np.ndarray, prompt: str) -> DetectorAnswer:
        """Ask for the boxes of what ``prompt`` describes in one image."""

    def box_space(self) -> BoxSpace | None:
        """What the answers' box numbers are measured in, when the user names no --box-space (None:
        the user must name it)."""
        return None

    def settings(self) -> dict[str, Any]:
        """What this detector ran with, recorded in every detection file. Never include secrets."""
        return {}

    def cancel(self) -> None:
        """Ctrl-C: make the requests in flight give up now and refuse new ones (from another thread);
        ``close`` follows."""

    def close(self) -> None:
        """Release clients and threads at the end of a run."""
