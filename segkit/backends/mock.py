"""Offline backends with masks known exactly: ``mock`` fills each box, ``mock-ellipse`` fills the
ellipse inscribed in it. A pixel belongs to a mask when its centre (x + 0.5, y + 0.5) lies inside the
shape, so integer boxes give exact rectangles and the box/ellipse IoU tends to pi/4."""

from __future__ import annotations

from typing import Any

import numpy as np

from segkit.hookspecs import hookimpl
from segkit.segmenter import Segmentation, Segmenter


def pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(height, dtype=np.float64)[:, None] + 0.5, np.arange(width, dtype=np.float64)[None, :] + 0.5


def box_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    ys, xs = pixel_centres(height, width)
    x1, y1, x2, y2 = (float(v) for v in box)
    return (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)


def ellipse_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    ys, xs = pixel_centres(height, width)
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


class MockSegmenter(Segmenter):
    """Fills each box (shape='box') or its inscribed ellipse (shape='ellipse'); no model, no weights."""

    def __init__(self, name: str, options=None, *, shape: str = "box", **params: Any):
        super().__init__(name, options, shape=shape, **params)
        self.shape = shape

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        height, width = image.shape[:2]
        draw = ellipse_mask if self.shape == "ellipse" else box_mask
        masks = np.stack([draw(box, height, width) for box in boxes])
        return Segmentation(masks=masks, scores=np.ones(len(boxes)))

    def settings(self) -> dict[str, Any]:
        return {"shape": self.shape}


@hookimpl
def register_segmenters(register):
    register("mock", MockSegmenter, shape="box", description="fills each box (offline, for tests)")
    register("mock-ellipse", MockSegmenter, shape="ellipse", description="fills the ellipse inscribed in each box")
