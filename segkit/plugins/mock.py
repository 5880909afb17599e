"""Offline backends with masks known exactly: ``mock`` fills each box, ``mock-ellipse`` fills the
ellipse inscribed in it. A pixel belongs to a mask when its centre (x + 0.5, y + 0.5) lies inside the
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


@hookimpl
def register_segmenters(register):
    register("mock", MockSegmenter, shape="box", description="fills each box (offline, for tests)")
    register("mock-ellipse", MockSegmenter, shape="ellipse", description="fills the ellipse inscribed in each box")
