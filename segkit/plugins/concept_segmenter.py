"""The concept segmenter contract: a phrase (and/or exemplar boxes) in, every matching instance out.

SAM 3's promptable concept segmentation: given "person", or a few boxes around examples of a thing, it
returns a mask for every instance of that concept in the image. A concept backend receives one RGB image,
(H, W, 3) uint8, and a list of ``Concept``s, and returns ``ConceptInstances``: M boolean (H, W) masks with
their scores, boxes (pixel xyxy, the mask's extent or the model's box) and the index of the concept each
answers. M may be 0. Instances are not paired with detections: segkit matches them to the detections
(and to other backends' masks) by IoU afterwards.

Options, readiness, loading, ``settings``, ``cancel`` and ``close`` are as for every backend
(``segkit.plugins.backend.Backend``). GPU backends override ``segment_concepts_batch`` to take several
images in one forward pass; the default loops. ``max_concepts`` is the most concepts one call takes (a
hosted API's limit, a model's memory): segkit splits an image's concepts into calls of at most that many
and joins the answers, renumbering their concept indices.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from segkit.plugins.backend import Backend


@dataclass(frozen=True)
class Concept:
    """What to find: a noun phrase, exemplar boxes (pixel xyxy, positive unless ``negative``), or both."""

    text: str | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    negative: tuple[bool, ...] = ()  # per box: True = "not this" (an exemplar of what to leave out)
    label: str = ""  # what its instances are called in the outputs (the phrase, or the detections' label)

    @property
    def name(self) -> str:
        return self.label or self.text or "exemplar"

    def box_array(self) -> np.ndarray:
        """The exemplar boxes as (K, 4) float32."""
        return np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)

    def positive(self) -> list[bool]:
        """Per box: True for a positive exemplar."""
        return [not (self.negative[i] if i < len(self.negative) else False) for i in range(len(self.boxes))]


@dataclass
class ConceptInstances:
    """A concept backend's answer for one image: M instances."""

    masks: np.ndarray  # (M, H, W) bool
    scores: np.ndarray  # (M,) float
    boxes: np.ndarray  # (M, 4) float pixel xyxy
    concepts: np.ndarray  # (M,) int: index into the concepts of the call
    info: dict[str, Any] = field(default_factory=dict)  # anything worth recording (the server's time, ...)

    @classmethod
    def empty(cls, height: int, width: int) -> "ConceptInstances":
        return cls(np.zeros((0, height, width), bool), np.zeros(0), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


class ConceptSegmenter(Backend, abc.ABC):
    """Base of every concept backend (phrases and exemplar boxes in, every instance out)."""

    kind: ClassVar[str] = "concept"
    max_concepts: int = 16  # most concepts per call; segkit splits above it

    @abc.abstractmethod
    def segment_concepts(self, image: np.ndarray, concepts: Sequence[Concept]) -> ConceptInstances:
        """Every instance of every concept in one image."""

    def segment_concepts_batch(self, images: Sequence[np.ndarray],
                               concepts: Sequence[Sequence[Concept]]) -> list[ConceptInstances]:
        """Several images, each with its own concepts; one ConceptInstances per image, in order. If it
        raises, segkit retries the images one at a time, so one bad image fails alone."""
        return [self.segment_concepts(image, image_concepts) for image, image_concepts in zip(images, concepts)]


class ConceptContractError(Exception):
    """A concept backend returned something other than instances with masks, scores, boxes and concept indices."""


def check_concept_instances(result: Any, n_concepts: int, height: int, width: int, backend: str) -> ConceptInstances:
    """Validate a concept backend's answer against the contract; raise ConceptContractError naming what is wrong."""
    where = f"backend {backend!r}"
    if not isinstance(result, ConceptInstances):
        raise ConceptContractError(f"{where} returned {type(result).__name__}, expected segkit.ConceptInstances")
    masks = result.masks
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_ or masks.ndim != 3 or masks.shape[1:] != (height, width):
        shape = masks.shape if isinstance(masks, np.ndarray) else type(masks).__name__
        kind = masks.dtype if isinstance(masks, np.ndarray) else ""
        raise ConceptContractError(f"{where} returned masks {shape} {kind} for a {width}x{height} image;"
                                   f" expected (M, {height}, {width}) bool")
    m = masks.shape[0]
    scores = np.asarray(result.scores, dtype=np.float64).reshape(-1)
    boxes = np.asarray(result.boxes, dtype=np.float32).reshape(-1, 4) if np.size(result.boxes) else np.zeros((0, 4), np.float32)
    concepts = np.asarray(result.concepts).reshape(-1)
    for what, array in (("scores", scores), ("boxes", boxes), ("concept indices", concepts)):
        if len(array) != m:
            raise ConceptContractError(f"{where} returned {len(array)} {what} for {m} masks")
    if m and not np.issubdtype(concepts.dtype, np.integer):
        raise ConceptContractError(f"{where} returned concept indices of type {concepts.dtype}; expected integers")
    if m and (concepts.min() < 0 or concepts.max() >= n_concepts):
        raise ConceptContractError(f"{where} answered concept {int(concepts.max())} of {n_concepts}")
    if not np.isfinite(scores).all() or not np.isfinite(boxes).all():
        raise ConceptContractError(f"{where} returned a score or box that is not a finite number")
    return ConceptInstances(masks, scores, boxes, concepts.astype(np.int64), dict(result.info))
