"""Offline backends with masks known exactly: ``mock`` fills each box, ``mock-ellipse`` fills the
ellipse inscribed in it, and ``mock-concept`` answers phrases and exemplar boxes the way a concept
segmenter does (see ``MockConceptSegmenter``). A pixel belongs to a mask when its centre (x + 0.5, y + 0.5) lies inside the
shape, so integer boxes give exact rectangles and the box/ellipse IoU tends to pi/4.

``latency_ms`` makes them stand in for a model of known speed (the sleep releases the GIL, as a GPU
call does), and ``batch_size`` lets the runner hand them several images per call, for throughput
benchmarks and tests of the batched path.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from segkit.inputs.box_spaces import pixel_span
from segkit.plugins.concept_segmenter import Concept, ConceptInstances, ConceptSegmenter
from segkit.plugins.hookspecs import hookimpl
from segkit.plugins.segmenter import Segmentation, Segmenter


class MockOptions(BaseModel):
    """Options of mock and mock-ellipse: config `options.mock`, SEGKIT_MOCK_<FIELD>, -O mock.<field>=VALUE."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(0.0, ge=0, description="sleep this long per image, as a model would take (GIL released)")
    batch_size: int = Field(1, ge=1, description="most images per segment_batch call")


def box_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    mask = np.zeros((height, width), dtype=bool)
    c0, c1 = pixel_span(x1, x2, width)
    r0, r1 = pixel_span(y1, y2, height)
    mask[r0:r1, c0:c1] = True
    return mask


def ellipse_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    mask = np.zeros((height, width), dtype=bool)
    # Only pixels whose centre lies in the box can be inside the inscribed ellipse.
    c0, c1 = pixel_span(x1, x2 + 1e-9, width)
    r0, r1 = pixel_span(y1, y2 + 1e-9, height)
    ys = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
    mask[r0:r1, c0:c1] = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    return mask


class MockSegmenter(Segmenter):
    """Fills each box (shape='box') or its inscribed ellipse (shape='ellipse'); no model, no weights."""

    options_key = "mock"
    Options = MockOptions

    def __init__(self, name: str, options=None, *, shape: str = "box", **params: Any):
        super().__init__(name, options, shape=shape, **params)
        self.shape = shape
        self.batch_size = self.options.batch_size

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        if self.options.latency_ms:
            time.sleep(self.options.latency_ms / 1000.0)
        return self._draw(image, boxes)

    def segment_batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[Segmentation]:
        if self.options.latency_ms:
            time.sleep(len(images) * self.options.latency_ms / 1000.0)
        return [self._draw(image, b) for image, b in zip(images, boxes)]

    def _draw(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        height, width = image.shape[:2]
        draw = ellipse_mask if self.shape == "ellipse" else box_mask
        masks = np.zeros((len(boxes), height, width), dtype=bool)
        for i, box in enumerate(boxes):
            masks[i] = draw(box, height, width)
        return Segmentation(masks=masks, scores=np.ones(len(boxes)))

    def settings(self) -> dict[str, Any]:
        return {"shape": self.shape}


class MockConceptSegmenter(ConceptSegmenter):
    """Finds instances without a model: a phrase gets every blob of colour that stands out from the image's
    median colour (8-connected, at least ``min_area`` pixels), the first phrase of a call all of them;
    exemplar boxes get the ellipse inscribed in each positive box. Scores are 0.9; boxes the masks' extents."""

    options_key = "mock"
    Options = MockOptions
    min_area = 16
    contrast = 60  # how far from the median colour (summed over channels) a pixel must be to stand out

    def segment_concepts(self, image: np.ndarray, concepts: Sequence[Concept]) -> ConceptInstances:
        if self.options.latency_ms:
            time.sleep(self.options.latency_ms / 1000.0)
        height, width = image.shape[:2]
        masks, owners = [], []
        first_text = next((i for i, c in enumerate(concepts) if c.text and not c.boxes), None)
        for index, concept in enumerate(concepts):
            for box, positive in zip(concept.box_array(), concept.positive()):
                if positive:
                    masks.append(ellipse_mask(box, height, width))
                    owners.append(index)
        if first_text is not None:
            for blob in self._blobs(image):
                masks.append(blob)
                owners.append(first_text)
        if not masks:
            return ConceptInstances.empty(height, width)
        stack = np.stack(masks)
        boxes = np.array([_extent_xyxy(m) for m in stack], dtype=np.float32)
        return ConceptInstances(stack, np.full(len(stack), 0.9), boxes, np.asarray(owners, dtype=np.int64))

    def _blobs(self, image: np.ndarray) -> list[np.ndarray]:
        import cv2

        median = np.median(image.reshape(-1, 3), axis=0)
        standing = (np.abs(image.astype(np.int32) - median).sum(axis=2) > self.contrast).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(standing, connectivity=8)
        return [labels == k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= self.min_area]


def _extent_xyxy(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


@hookimpl
def register_concept_segmenters(register):
    register("mock-concept", MockConceptSegmenter, description="phrases: blobs of standing-out colour; exemplar boxes: their ellipses (offline, for tests)")


@hookimpl
def register_segmenters(register):
    register("mock", MockSegmenter, shape="box", description="fills each box (offline, for tests)")
    register("mock-ellipse", MockSegmenter, shape="ellipse", description="fills the ellipse inscribed in each box")
