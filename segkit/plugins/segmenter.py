"""The segmenter contract every backend implements, built-in or third-party.

A backend receives one RGB image, (H, W, 3) uint8, and all of its boxes at once, (N, 4) float32
pixel xyxy with N >= 1, and returns one boolean (H, W) mask per box, in the same order, with a score
per mask. ``__init__`` and ``check_ready`` must stay cheap (no heavy imports, no model loading): they
run for `segkit backends`. Heavy work belongs in ``load``, which segkit calls once per run.

GPU backends may also take several images at once: ``segment_batch`` gets a list of images and a list
of their boxes and returns one ``Segmentation`` per image; the runner groups up to ``batch_size``
images per call. The default loops over ``segment``, so a backend that only implements ``segment``
works unchanged.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
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


@dataclass
class Segmentation:
    """A backend's answer for one image: (N, H, W) bool masks and (N,) scores, in box order."""

    masks: np.ndarray
    scores: np.ndarray


class Segmenter(abc.ABC):
    """Base class of every backend.

    Subclasses set ``options_key`` and ``Options`` (a pydantic model) to take settings from the
    config's ``options.<options_key>`` section, ``SEGKIT_<KEY>_<FIELD>`` environment variables and
    ``-O key.field=value`` flags. Remote backends raise ``max_concurrency`` to segment several images
    at once; GPU backends raise ``batch_size`` and override ``segment_batch`` to encode several images
    in one forward pass.
    """

    options_key: ClassVar[str | None] = None
    Options: ClassVar[type[BaseModel]] = NoOptions
    max_concurrency: int = 1
    batch_size: int = 1  # most images the runner passes to one segment_batch call

    def __init__(self, name: str, options: BaseModel | None = None, **params: Any):
        self.name = name
        self.options = options if options is not None else self.Options()
        self.params = params

    def check_ready(self) -> Readiness:
        """Cheap check that the backend could run: dependency importable, weights present, key set."""
        return Readiness.ok()

    def load(self) -> None:
        """Load models or open clients; called once per run before the first image."""

    @abc.abstractmethod
    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        """Segment every box of one image at once."""

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        """Segment several images, each with all of its boxes; one Segmentation per image, in order.

        Override to batch the image encoder on a GPU. If it raises, segkit retries the images of the
        batch one at a time through ``segment``, so one bad image fails alone.
        """
        return [self.segment(image, image_boxes) for image, image_boxes in zip(images, boxes)]

    def settings(self) -> dict[str, Any]:
        """What this backend ran with, recorded in every image's JSON. Never include secrets."""
        return {}

    def cancel(self) -> None:
        """Ctrl-C: make the calls in flight give up now (a remote request, a long wait) and refuse new
        ones. Called from another thread while ``segment`` may be running; ``close`` follows. A backend
        whose calls end by themselves in a few seconds (a local model) need not override it."""

    def close(self) -> None:
        """Release models, clients and threads at the end of a run."""


class ContractError(Exception):
    """A backend returned something other than one bool full-resolution mask and score per box."""


def check_segmentation(result: Any, n_boxes: int, height: int, width: int, backend: str) -> Segmentation:
    """Validate a backend's answer against the contract; raise ContractError naming what is wrong."""
    where = f"backend {backend!r}"
    if not isinstance(result, Segmentation):
        raise ContractError(f"{where} returned {type(result).__name__}, expected segkit.Segmentation")
    masks, scores = result.masks, result.scores
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_:
        kind = masks.dtype if isinstance(masks, np.ndarray) else type(masks).__name__
        raise ContractError(f"{where} returned masks of type {kind}; the contract is a bool numpy array")
    if masks.shape != (n_boxes, height, width):
        raise ContractError(
            f"{where} returned masks of shape {masks.shape} for {n_boxes} boxes on a {width}x{height} image;"
            f" expected {(n_boxes, height, width)}"
        )
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape != (n_boxes,):
        raise ContractError(f"{where} returned {scores.shape[0]} scores for {n_boxes} boxes")
    return Segmentation(masks=masks, scores=scores)
