"""Output folders to export from: the comparison dataset (compare_helpers) run with backends whose masks are
known, plus two that make the shapes the dataset formats get wrong: ``pieces`` (each mask in two pieces)
and ``ring`` (each mask with a hole)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from compare_helpers import ComparisonBackends, write_dataset

import segkit
from segkit.outputs.layout import OutputLayout
from segkit.outputs.reading import load_answer_mask, load_backend_record
from segkit.plugins.host import get_host


class Pieces(segkit.Segmenter):
    """Each box's left and right thirds: one mask in two pieces. Score 0.6."""

    def segment(self, image, boxes):
        h, w = image.shape[:2]
        masks = np.zeros((len(boxes), h, w), bool)
        for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, int)):
            third = max((x2 - x1) // 3, 1)
            masks[k, y1:y2, x1 : x1 + third] = True
            masks[k, y1:y2, x2 - third : x2] = True
        return segkit.Segmentation(masks=masks, scores=np.full(len(boxes), 0.6))


class Ring(segkit.Segmenter):
    """Each box with a hole in its middle (a quarter of each side in from the edge). Score 0.9."""

    def segment(self, image, boxes):
        h, w = image.shape[:2]
        masks = np.zeros((len(boxes), h, w), bool)
        for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, int)):
            masks[k, y1:y2, x1:x2] = True
            dx, dy = max((x2 - x1) // 4, 1), max((y2 - y1) // 4, 1)
            masks[k, y1 + dy : y2 - dy, x1 + dx : x2 - dx] = False
        return segkit.Segmentation(masks=masks, scores=np.full(len(boxes), 0.9))


class ShapeBackends:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("pieces", Pieces, description="two pieces per box")
        register("ring", Ring, description="a hole per box")


@pytest.fixture
def shape_backends():
    host = get_host()
    host.register(ComparisonBackends, name="comparison-backends")
    host.register(ShapeBackends, name="shape-backends")
    yield host
    host.unregister("shape-backends")
    host.unregister("comparison-backends")


def run_folder(cli, *backends: str, extra=()) -> Path:
    write_dataset(cli)
    result = cli.run(*backends, extra=list(extra))
    assert result.exit_code == 0, result.output
    return cli.out


def original_masks(out: Path, backend: str) -> dict[tuple[str, int], np.ndarray]:
    """(stem, detection id) -> the mask the backend wrote, read back as segkit reads it."""
    layout = OutputLayout(out)
    found = {}
    for path in sorted((out / "backends" / backend).glob("*.json")):
        record = load_backend_record(path)
        for answer in record.answers:
            found[(path.stem, answer.id)] = load_answer_mask(layout, answer, record.size)
    return found


def within_one_pixel(got: np.ndarray, want: np.ndarray) -> bool:
    """Every pixel where ``got`` and ``want`` differ lies on ``want``'s outline, give or take one pixel."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(want.astype(np.uint8), kernel).astype(bool) & ~cv2.erode(want.astype(np.uint8), kernel).astype(bool)
    return not ((got ^ want) & ~band).any()


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
