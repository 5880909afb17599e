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
from segkit.plugins.backend import Backend, NoOptions, Readiness  # noqa: F401  (NoOptions, Readiness: part of the contract)


@dataclass
class Segmentation:
    """A backend's answer for one image: (N, H, W) bool masks and (N,) scores, in box order."""

    masks: np.ndarray
    scores: np.ndarray


class Segmenter(Backend, abc.ABC):
    """Base of every box-prompted backend (see ``Backend`` for options, readiness, loading and closing)."""

    kind: ClassVar[str] = "box"

    @abc.abstractmethod
    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        """Segment every box of one image at once."""

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        """Segment several images, each with all of its boxes; one Segmentation per image, in order.

        Override to batch the image encoder on a GPU. If it raises, segkit retries the images of the
        batch one at a time through ``segment``, so one bad image fails alone.
        """
        return [self.segment(image, image_boxes) for image, image_boxes in zip(images, boxes)]


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
