"""What every backend has, whatever it takes as a prompt: options, readiness, loading, settings, closing.

``Segmenter`` (boxes in, one mask per box) and ``ConceptSegmenter`` (phrases and exemplar boxes in, every
instance out) both build on ``Backend``: they are created, configured, checked, loaded, counted and
closed the same way, and a run may mix them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Readiness:
    """Whether a backend can run here, and if not, why (shown by `segkit backends`)."""

    ready: bool
    reason: str = ""

    @classmethod
    def ok(cls, detail: str = "") -> "Readiness":
        return cls(True, detail)

    @classmethod
    def missing(cls, reason: str) -> "Readiness":
        return cls(False, reason)


class Backend:
    """Base of every backend kind.

    Subclasses set ``options_key`` and ``Options`` (a pydantic model) to take settings from the config's
    ``options.<options_key>`` section, ``SEGKIT_<KEY>_<FIELD>`` environment variables and ``-O
    key.field=value`` flags. ``__init__`` and ``check_ready`` must stay cheap (no heavy imports, no model
    loading): they run for `segkit backends`. Heavy work belongs in ``load``, called once per run. Remote
    backends raise ``max_concurrency`` to have several images in flight; GPU backends raise
    ``batch_size`` to take several images per call.
    """

    options_key: ClassVar[str | None] = None
    Options: ClassVar[type[BaseModel]] = NoOptions
    kind: ClassVar[str] = "box"  # what it is prompted with: "box" (Segmenter) or "concept" (ConceptSegmenter)
    max_concurrency: int = 1
    batch_size: int = 1  # most images the engine passes to one batch call

    def __init__(self, name: str, options: BaseModel | None = None, **params: Any):
        self.name = name
        self.options = options if options is not None else self.Options()
        self.params = params

    def check_ready(self) -> Readiness:
        """Cheap check that the backend could run: dependency importable, weights present, key set."""
        return Readiness.ok()

    def load(self) -> None:
        """Load models or open clients; called once per run before the first image."""

    def settings(self) -> dict[str, Any]:
        """What this backend ran with, recorded in every image's JSON. Never include secrets."""
        return {}

    def cancel(self) -> None:
        """Ctrl-C: make the calls in flight give up now (a remote request, a long wait) and refuse new
        ones. Called from another thread while a call may be running; ``close`` follows. A backend whose
        calls end by themselves in a few seconds (a local model) need not override it."""

    def close(self) -> None:
        """Release models, clients and threads at the end of a run."""
