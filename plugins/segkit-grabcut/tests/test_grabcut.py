"""The grabcut backend, tested the way a plugin author tests theirs: segkit's public testing helpers
(the contract check, the sample image, the ``segkit_cli`` fixture) plus checks on real photographs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import segkit
from segkit.testing import SAMPLE_BOXES, SegmenterContract, check_segmenter_contract, iou, sample_image, sample_masks
from segkit_grabcut import GrabCutOptions, GrabCutSegmenter
from segkit_grabcut.backend import segment_box

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def true_masks(image: np.ndarray) -> np.ndarray:
    return sample_masks((image.shape[1], image.shape[0]))


def box_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Filled boxes, a pixel inside when its centre is (segkit's convention)."""
    ys = np.arange(height)[:, None] + 0.5
    xs = np.arange(width)[None, :] + 0.5
    return np.stack([(xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2) for x1, y1, x2, y2 in boxes])


def grabcut(**options) -> GrabCutSegmenter:
    segmenter = GrabCutSegmenter("grabcut", GrabCutOptions(**options))
    segmenter.load()
    return segmenter


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / "images" / name).convert("RGB"))


def coin_boxes() -> np.ndarray:
    """The shipped coins example: Qwen grounding output, pixel boxes of the image itself."""
    dets = json.loads((EXAMPLES / "detections" / "coins.json").read_text(encoding="utf-8"))
    return np.asarray([d["bbox_2d"] for d in dets], dtype=np.float32)


def astronaut() -> tuple[np.ndarray, np.ndarray]:
    """The shipped astronaut photograph at half size (256 x 256, to keep the tests quick) and its boxes."""
    dets = json.loads((EXAMPLES / "detections" / "astronaut.json").read_text(encoding="utf-8"))["detections"]
    image = Image.open(EXAMPLES / "images" / "astronaut.jpg").convert("RGB").resize((256, 256), Image.BILINEAR)
    return np.asarray(image), np.asarray([d["bbox_xyxy_norm"] for d in dets], dtype=np.float32) * 256


# -- discovery and the contract -------------------------------------------------------------------


def test_segkit_finds_grabcut_through_its_entry_point(segkit_cli):
    backends = json.loads(segkit_cli.invoke("backends", "--json").output)["backends"]
    row = next(b for b in backends if b["name"] == "grabcut")
    assert row["plugin"] == "grabcut" and row["ready"], row
    assert row["reason"].startswith("OpenCV ")
    plugins = json.loads(segkit_cli.invoke("plugins", "--json").output)["plugins"]
    row = next(p for p in plugins if p["name"] == "grabcut")
    assert row["distribution"].startswith("segkit-grabcut ") and row["hooks"] == ["register_segmenters"]


class TestContract(SegmenterContract):
    """segkit's contract suite with the default options, plus the same checks on a real photograph."""

    backend = "grabcut"

    def test_the_contract_holds_on_a_real_photograph(self, loaded):
        check_segmenter_contract(loaded, photo("coins.png"), coin_boxes())


@pytest.mark.parametrize(
    "options",
    [{"threads": 1}, {"max_side": 32}, {"margin": 0.0}, {"iterations": 1, "tolerance": 0.0}],
    ids=["one-thread", "shrunk", "no-margin", "one-iteration"],
)
def test_grabcut_honours_the_contract_whatever_its_options(options):
    segmenter = grabcut(**options)
    try:
        check_segmenter_contract(segmenter)
        check_segmenter_contract(segmenter, photo("coins.png"), coin_boxes())
    finally:
        segmenter.close()


def test_not_ready_without_opencv_says_how_to_fix_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    readiness = GrabCutSegmenter("grabcut").check_ready()
    assert not readiness.ready and "pip install opencv-python" in readiness.reason


# -- quality ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, options",
    [((160, 120), {}), ((640, 480), {}), ((640, 480), {"max_side": 64}), ((160, 120), {"threads": 1, "margin": 0.0})],
    ids=["sample", "sample-x4", "sample-x4-shrunk-to-64px", "no-margin"],
)
def test_masks_follow_the_drawn_shapes_far_better_than_the_boxes(size, options):
    image = sample_image(0, size)
    boxes = SAMPLE_BOXES * np.float32(size[0] / 160)
    truth = true_masks(image)
    result = grabcut(**options).segment(image, boxes)
    filled = box_masks(boxes, *image.shape[:2])
    for i in range(len(boxes)):
        ours, box_only = iou(result.masks[i], truth[i]), iou(filled[i], truth[i])
        assert ours >= 0.95, f"shape {i}: GrabCut IoU with the drawn shape {ours:.3f}"
        assert box_only <= 0.6 and ours - box_only >= 0.35, (i, ours, box_only)
        assert result.scores[i] >= 0.9, f"shape {i}: clear colours should score high, got {result.scores[i]:.3f}"


def test_coins_come_out_round_on_a_real_photograph():
    """The shipped coins photograph: each coin is a disc, so its mask should be close to the ellipse
    inscribed in its box (a filled box would score pi/4 = 0.785 at best)."""
    image, boxes = photo("coins.png"), coin_boxes()
    result = grabcut().segment(image, boxes)
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        ellipse = ((xs - (x1 + x2) / 2) / ((x2 - x1) / 2)) ** 2 + ((ys - (y1 + y2) / 2) / ((y2 - y1) / 2)) ** 2 <= 1
        assert iou(result.masks[i], ellipse) >= 0.85, f"coin {i}: IoU with its disc {iou(result.masks[i], ellipse):.3f}"


def test_masks_never_leave_their_boxes():
    image, boxes = astronaut()
    boxes += np.float32(0.37)  # fractional edges: a pixel belongs when its centre does
    result = grabcut().segment(image, boxes)
    inside = box_masks(boxes, *image.shape[:2])
    assert not np.any(result.masks & ~inside)
    assert all(m.any() for m in result.masks)


def test_score_drops_when_colours_do_not_separate_object_from_background():
    rng = np.random.default_rng(3)
    image = rng.integers(40, 90, size=(120, 240, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:120, 0:240]
    clear = (xs - 60) ** 2 + (ys - 60) ** 2 <= 30**2
    faint = (xs - 180) ** 2 + (ys - 60) ** 2 <= 30**2
    image[clear] = (230, 230, 40)
    image[faint] = rng.integers(55, 105, size=(int(faint.sum()), 3), dtype=np.uint8)  # overlaps the background
    boxes = np.array([[20, 20, 100, 100], [140, 20, 220, 100]], dtype=np.float32)
    scores = grabcut().segment(image, boxes).scores
    assert scores[0] >= 0.9 and scores[1] <= scores[0] - 0.3, scores


def test_a_mask_that_keeps_a_sliver_of_its_box_scores_low():
    """GrabCut's premise is a box that frames its object; a cut keeping 2% of the box is suspect even
    when its colours separate cleanly."""
    image = np.random.default_rng(2).integers(40, 90, size=(80, 80, 3), dtype=np.uint8)
    image[37:43, 37:43] = (240, 240, 240)  # 6 x 6 in a 40 x 40 box: 2.25% of it
    result = grabcut().segment(image, np.array([[20, 20, 60, 60]], dtype=np.float32))
    assert result.masks[0].sum() == 36
    assert 0.15 <= result.scores[0] <= 0.25, result.scores  # clean colours (1.0) x 2.25% / 10%


def test_a_box_with_nothing_in_it_comes_back_empty_with_score_zero():
    image = np.random.default_rng(1).integers(40, 90, size=(120, 160, 3), dtype=np.uint8)  # noise only
    result = grabcut().segment(image, np.array([[40, 30, 120, 90]], dtype=np.float32))
    assert not result.masks[0].any() and result.scores[0] == 0.0


def test_a_box_covering_the_whole_image_still_finds_the_object():
    """No background outside the box: a thin frame just inside it stands in for one."""
    image = sample_image()[6:76, 4:68].copy()  # the disc with a few pixels of noise around it
    truth = true_masks(sample_image())[0][6:76, 4:68]
    result = grabcut().segment(image, np.array([[0, 0, 64, 70]], dtype=np.float32))
    assert iou(result.masks[0], truth) >= 0.9


def test_boxes_too_small_to_segment_come_back_filled_and_score_zero():
    image = sample_image()
    image[70:76, 140:146] = (250, 250, 0)  # a 6x6 object on the background noise
    boxes = np.array([[20, 20, 23, 23], [5, 5, 5, 9], [200, 200, 220, 220], [139, 69, 147, 77]], dtype=np.float32)
    result = grabcut().segment(image, boxes)
    assert result.masks.shape == (4, 120, 160) and result.masks.dtype == bool
    assert result.masks[0].sum() == 9 and result.masks[0][20:23, 20:23].all()  # 3x3: filled
    assert not result.masks[1].any() and not result.masks[2].any()  # no area inside the image
    assert result.scores[0] == result.scores[1] == result.scores[2] == 0.0
    # 8x8 is big enough to segment: the 6x6 object, not the box
    assert np.array_equal(np.argwhere(result.masks[3]).min(0), [70, 140]) and result.masks[3].sum() == 36
    assert result.scores[3] > 0.5


# -- speed knobs that must not change the answer ------------------------------------------------------


def test_runs_are_repeatable_whatever_state_opencvs_rng_is_in():
    image, boxes = astronaut()
    segmenter = grabcut()
    first = segmenter.segment(image, boxes)
    cv2.setRNGSeed(12345)
    cv2.randu(np.zeros((64, 64), np.float32), 0, 1)  # move the RNG on, as other OpenCV code would
    again = segmenter.segment(image, boxes)
    assert np.array_equal(first.masks, again.masks) and np.array_equal(first.scores, again.scores)


def test_threads_and_box_order_do_not_change_any_mask():
    image, boxes = astronaut()
    serial = grabcut(threads=1).segment(image, boxes)
    order = np.array([3, 0, 5, 1, 4, 2])
    parallel = grabcut(threads=4).segment(image, boxes[order])
    assert np.array_equal(parallel.masks, serial.masks[order])
    assert np.array_equal(parallel.scores, serial.scores[order])


def test_early_stop_saves_iterations_and_changes_almost_nothing():
    image, boxes = astronaut()
    early = [segment_box(cv2, image, box, GrabCutOptions()) for box in boxes]
    full = [segment_box(cv2, image, box, GrabCutOptions(tolerance=0.0)) for box in boxes]
    assert all(r.iterations == 5 for r in full)
    assert sum(r.iterations for r in early) <= 0.8 * 5 * len(boxes), [r.iterations for r in early]
    # GrabCut is not guaranteed to converge: on a hard box a later iteration can still drift (here the
    # half-size shuttle model), so the bar is on the typical box, not the worst.
    agreement = [iou(a.mask, b.mask) for a, b in zip(early, full)]
    assert np.median(agreement) >= 0.99 and np.mean(agreement) >= 0.95, agreement


# -- through the CLI, as a user runs it ---------------------------------------------------------------


def test_segkit_run_with_grabcut_and_mock_writes_real_masks(segkit_cli):
    result = segkit_cli.run("grabcut", "mock")
    records = segkit_cli.assert_outputs(result, ["grabcut", "mock"])
    for record in records:
        settings = record["backends"]["grabcut"]["settings"]
        assert settings["iterations"] == 5 and settings["opencv"] == cv2.__version__
        image = np.asarray(Image.open(segkit_cli.dataset.images / record["image"]).convert("RGB"))
        truth = true_masks(image)
        for i, det in enumerate(record["detections"]):
            mask = np.asarray(Image.open(result.out / det["backends"]["grabcut"]["mask"])) > 0
            assert iou(mask, truth[i]) >= 0.95, det["label"]
            # mock fills the box; the shapes cover 55-60% of theirs
            assert 0.5 <= det["iou"]["grabcut vs mock"] <= 0.65, det["iou"]
            assert det["backends"]["grabcut"]["score"] >= 0.9


def test_options_come_from_environment_and_flags(segkit_cli):
    result = segkit_cli.run("grabcut", extra=["-O", "grabcut.margin=0.25"], env={"SEGKIT_GRABCUT_ITERATIONS": "2"})
    records = segkit_cli.assert_outputs(result, ["grabcut"])
    settings = records[0]["backends"]["grabcut"]["settings"]
    assert settings["iterations"] == 2 and settings["margin"] == 0.25


@pytest.mark.parametrize(
    "flag, expected",
    [
        ("grabcut.iterations=0", "option grabcut.iterations: Input should be greater than or equal to 1"),
        ("grabcut.max_side=10", "option grabcut.max_side: Value error, must be 0 (never shrink) or at least 32"),
        ("grabcut.threads=many", "option grabcut.threads: Input should be a valid integer"),
        ("grabcut.itterations=3", "option grabcut.unknown setting 'itterations'"),
    ],
)
def test_a_bad_option_is_one_clear_line(segkit_cli, flag, expected):
    result = segkit_cli.run("grabcut", extra=["-O", flag])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "-O grabcut.<field>=VALUE" in lines[0]


def test_a_box_that_is_not_finite_fails_that_image_only():
    boxes = np.array([[2, 2, 10, 10], [np.nan, 2, 10, 10]], np.float32)
    with pytest.raises(segkit.ImageFailed, match=r"grabcut: box 1 \[nan, 2.0, 10.0, 10.0\] is not finite"):
        grabcut().segment(sample_image(), boxes)


def test_an_image_that_is_not_rgb8_fails_that_image_only():
    with pytest.raises(segkit.ImageFailed, match=r"grabcut needs an \(H, W, 3\) uint8 RGB image"):
        grabcut().segment(np.zeros((20, 20, 3), np.float32), np.array([[2, 2, 10, 10]], np.float32))
