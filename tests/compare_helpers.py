"""Backends whose masks against `mock` and `mock-ellipse` are known exactly, and a dataset built for them.

Images are 128 x 64 and boxes have integer corners, so the normalized boxes in the detection files are
exact binary fractions and every backend sees the integer box again: `mock` fills exactly w x h
pixels, `inset2` exactly (w - 4) x (h - 4), `empty` nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
from segkit.plugins.host import get_host
from segkit.plugins.mock import box_mask

SIZE = (128, 64)
MARGIN = 2
# image stem -> [(box, label)]; the last box is 6 x 6: inset by 2 it keeps 2 x 2 pixels, IoU 4/36.
DATASET = {
    "one": [((8, 8, 48, 40), "りんご"), ((60, 4, 124, 60), "皿"), ((20, 44, 36, 60), "りんご")],
    "two": [((8, 8, 48, 40), "cup"), ((100, 50, 106, 56), "りんご")],
}


def inset_iou(box, margin: int = MARGIN) -> float:
    """IoU of a filled w x h box and the same box inset by ``margin`` on every side: (w-2m)(h-2m) / wh."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return (w - 2 * margin) * (h - 2 * margin) / (w * h)


def ellipse_pixels(box, size=SIZE) -> np.ndarray:
    """The inscribed ellipse on the pixel grid, pixel by pixel: a centre (x + .5, y + .5) inside it."""
    x1, y1, x2, y2 = box
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    out = np.zeros((size[1], size[0]), dtype=bool)
    for y in range(size[1]):
        for x in range(size[0]):
            out[y, x] = ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1
    return out


def rect_pixels(box, size=SIZE) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = np.zeros((size[1], size[0]), dtype=bool)
    out[y1:y2, x1:x2] = True
    return out


def grid_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def percentile_5(values) -> float:
    """numpy's default (linear) 5th percentile, written out: rank 0.05 (n - 1) between sorted neighbours."""
    v = sorted(values)
    rank = 0.05 * (len(v) - 1)
    low = int(rank)
    high = min(low + 1, len(v) - 1)
    return v[low] + (rank - low) * (v[high] - v[low])


class Inset(segkit.Segmenter):
    """Fills each box shrunk by ``margin`` pixels on every side."""

    def segment(self, image, boxes):
        h, w = image.shape[:2]
        m = self.params["margin"]
        masks = np.stack([box_mask(np.asarray(b, float) + [m, m, -m, -m], h, w) for b in boxes])
        return segkit.Segmentation(masks=masks, scores=np.full(len(boxes), 0.75))

    def settings(self):
        return {"margin": self.params["margin"]}


class Empty(segkit.Segmenter):
    """Answers every box with an empty mask."""

    def segment(self, image, boxes):
        return segkit.Segmentation(masks=np.zeros((len(boxes), *image.shape[:2]), bool), scores=np.zeros(len(boxes)))


class ComparisonBackends:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("inset2", Inset, margin=MARGIN, description="each box inset by 2 px")
        register("empty", Empty, description="empty masks")


@pytest.fixture
def extra_backends():
    """`inset2` and `empty` registered through the plugin host for the length of one test."""
    host = get_host()
    host.register(ComparisonBackends, name="comparison-backends")
    yield host
    host.unregister("comparison-backends")


def write_dataset(cli, dataset=DATASET, size=SIZE) -> None:
    for i, (stem, entries) in enumerate(dataset.items()):
        write_rgb(cli.images / f"{stem}.png", size, seed=i)
        write_qwen(cli.dets / f"{stem}.json", [qwen_det(box, size, label) for box, label in entries])


def all_boxes(dataset=DATASET):
    """(stem, det id, box, label) for every detection, in report order."""
    return [(stem, i, box, label) for stem, entries in dataset.items() for i, (box, label) in enumerate(entries)]
