"""Helpers for testing segmenter plugins offline: sample data, the contract suite, a CLI runner.

    from segkit.testing import SegmenterContract, check_segmenter_contract, sample_image, SAMPLE_BOXES

    class TestContract(SegmenterContract):   # every contract check for one backend (segkit.testing.contract)
        backend = "my-backend"

    check_segmenter_contract(MySegmenter("my-backend"))   # the segmenting checks on one instance
    masks = MySegmenter("my-backend").segment(sample_image(), SAMPLE_BOXES).masks  # vs sample_masks()

With segkit installed, pytest also gets the ``segkit_cli`` fixture (see ``pytest_plugin``).
``sample_image`` / ``sample_masks`` give a picture and the true masks for ``SAMPLE_BOXES``, and ``iou``
is segkit's own mask IoU, for quality checks.
"""

from __future__ import annotations

import importlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
from PIL import Image

from segkit.inputs.box_spaces import to_normalized_xyxy
from segkit.outputs.mask_metrics import iou
from segkit.outputs.reading import read_mask  # noqa: F401  (a written mask file back as a bool array)
from segkit.plugins.segmenter import Segmenter, check_segmentation

if TYPE_CHECKING:
    from segkit.plugins.host import BackendEntry

# Boxes (pixel xyxy) on the 160 x 120 sample image: each frames one drawn shape.
SAMPLE_SIZE = (160, 120)
SAMPLE_BOXES = np.array([[10, 12, 62, 70], [80, 20, 150, 60], [40, 76, 120, 112]], dtype=np.float32)
SAMPLE_LABELS = ("円", "rectangle", "楕円")


SAMPLE_COLOURS = ((220, 40, 40), (40, 200, 60), (50, 70, 230))


def sample_masks(size: tuple[int, int] = SAMPLE_SIZE) -> np.ndarray:
    """The true masks of ``sample_image``'s three shapes, (3, H, W) bool, in SAMPLE_BOXES order: what a
    box-prompted segmenter should return for SAMPLE_BOXES (scaled to ``size``)."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    sx, sy = width / SAMPLE_SIZE[0], height / SAMPLE_SIZE[1]
    disc = (xs - 36 * sx) ** 2 / (24 * sx) ** 2 + (ys - 41 * sy) ** 2 / (24 * sy) ** 2 <= 1
    rect = (xs >= 86 * sx) & (xs < 144 * sx) & (ys >= 26 * sy) & (ys < 54 * sy)
    ellipse = ((xs - 80 * sx) / (36 * sx)) ** 2 + ((ys - 94 * sy) / (14 * sy)) ** 2 <= 1
    return np.stack([disc, rect, ellipse])


def sample_image(seed: int = 0, size: tuple[int, int] = SAMPLE_SIZE) -> np.ndarray:
    """An RGB picture of a disc, a rectangle and an ellipse on a noisy background, (H, W, 3) uint8."""
    width, height = size
    rng = np.random.default_rng(seed)
    img = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    for mask, colour in zip(sample_masks(size), SAMPLE_COLOURS):
        img[mask] = colour
    return img


def sample_batch() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images and their boxes for testing ``segment_batch``: four ``sample_image``s of different sizes
    and aspect ratios, with 3, 1, 2 and 1 of SAMPLE_BOXES (scaled to each): a batched answer must equal
    ``segment`` on each image alone."""
    sizes = [(160, 120), (200, 150), (97, 131), (240, 64)]
    picks = [SAMPLE_BOXES, SAMPLE_BOXES[1:2], SAMPLE_BOXES[[2, 0]], SAMPLE_BOXES[:1]]
    images = [sample_image(seed, size) for seed, size in enumerate(sizes)]
    boxes = [picked * np.array([w / SAMPLE_SIZE[0], h / SAMPLE_SIZE[1]] * 2, np.float32) for picked, (w, h) in zip(picks, sizes)]
    return images, boxes


@dataclass
class SampleDataset:
    images: Path
    detections: Path
    names: list[str] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: SAMPLE_BOXES.copy())
    labels: Sequence[str] = SAMPLE_LABELS


def write_sample_dataset(root: Path, n_images: int = 2, size: tuple[int, int] = SAMPLE_SIZE) -> SampleDataset:
    """Sample PNG images and one Qwen JSON detection file per image, under ``root``."""
    images, detections = root / "images", root / "detections"
    images.mkdir(parents=True, exist_ok=True)
    detections.mkdir(parents=True, exist_ok=True)
    scale = np.array([size[0] / SAMPLE_SIZE[0], size[1] / SAMPLE_SIZE[1]] * 2, dtype=np.float32)
    boxes = SAMPLE_BOXES * scale
    dataset = SampleDataset(images, detections, boxes=boxes)
    for i in range(n_images):
        name = f"sample{i:02d}"
        Image.fromarray(sample_image(i, size)).save(images / f"{name}.png")
        dets = [
            {"bbox_xyxy_norm": to_normalized_xyxy(box.tolist(), size), "label_ja": label, "confidence": 0.9}
            for box, label in zip(boxes, SAMPLE_LABELS)
        ]
        (detections / f"{name}.json").write_text(json.dumps({"detections": dets}, ensure_ascii=False), encoding="utf-8")
        dataset.names.append(name)
    return dataset


def check_segmenter_contract(
    segmenter: Segmenter,
    image: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    order_iou: float = 0.98,
) -> None:
    """Assert the segmenter contract on one image: N>1 and N=1 boxes, bool full-resolution masks,
    one per box, finite scores, and masks that follow their boxes when the boxes are reordered.

    Call ``segmenter.load()`` first if it needs loading. Raises AssertionError naming what is wrong.
    """
    image = sample_image() if image is None else image
    boxes = SAMPLE_BOXES.copy() if boxes is None else np.asarray(boxes, dtype=np.float32)
    height, width = image.shape[:2]
    name = segmenter.name

    def run(b: np.ndarray):
        try:
            return check_segmentation(segmenter.segment(image.copy(), b.copy()), len(b), height, width, name)
        except Exception as exc:  # ContractError or the backend's own error
            raise AssertionError(f"{name}: {exc}") from exc

    many = run(boxes)
    assert np.all(np.isfinite(many.scores)), f"{name}: scores must be finite, got {many.scores}"
    one = run(boxes[:1])
    assert one.masks.shape == (1, height, width), f"{name}: N=1 gave masks of shape {one.masks.shape}"
    order = np.arange(len(boxes))[::-1]
    reordered = run(boxes[order])
    for new_index, old_index in enumerate(order):
        score = iou(reordered.masks[new_index], many.masks[old_index])
        assert score >= order_iou, (
            f"{name}: the mask for box {old_index} changed when the boxes were reordered (IoU {score:.3f});"
            " masks must come back in box order"
        )


def backend_entry(name: str) -> "BackendEntry":
    """The registered backend for a name or alias: ``.name``, ``.cls``, ``.plugin``, ``.params``, ``.aliases``,
    ``.description`` (what `segkit backends` lists)."""
    from segkit.plugins.host import get_host

    return get_host().backend(name)


def registered_backends(plugin: str) -> dict[str, "BackendEntry"]:
    """Every backend the installed plugin ``plugin`` (its entry-point name) registers, by name."""
    from segkit.plugins.host import get_host

    return {name: entry for name, entry in get_host().backends().items() if entry.plugin == plugin}


def __getattr__(name: str) -> Any:
    """``SegmenterContract`` and ``ConceptSegmenterContract`` on first use: they import pytest, which segkit
    itself does not need."""
    if name in ("SegmenterContract", "ConceptSegmenterContract"):
        from segkit.testing import contract

        return getattr(contract, name)
    raise AttributeError(f"module 'segkit.testing' has no attribute {name!r}")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def offline_segmenter(entry: "BackendEntry", workdir: Path, **options: Any) -> Iterator[Segmenter]:
    """A segmenter for ``entry`` made ready to run offline, not yet loaded.

    A plugin whose backends need weights or a server to run provides the module ``<package>.testing``
    with a context manager ``offline_segmenter(name, workdir, **options)`` that yields a ready segmenter
    (random weights saved under ``workdir``, a loopback server, ...). Other backends are created with
    ``options`` (their defaults otherwise) and must already be ready.
    """
    package = entry.cls.__module__.split(".")[0]
    helpers = None
    if package != "segkit":  # the core's own backends need nothing
        try:
            helpers = importlib.import_module(f"{package}.testing")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.testing":
                raise
    if helpers is not None and hasattr(helpers, "offline_segmenter"):
        with helpers.offline_segmenter(entry.name, workdir, **options) as segmenter:
            yield segmenter
        return
    segmenter = entry.create(entry.cls.Options(**options) if options else None)
    readiness = segmenter.check_ready()
    assert readiness.ready, f"{entry.name} is not ready offline ({readiness.reason}) and {package}.testing has no offline_segmenter"
    yield segmenter
