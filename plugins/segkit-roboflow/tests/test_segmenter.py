"""The roboflow-* segmenters against the loopback server: masks to the pixel, confidences, order,
centre-based boxes, lossless images, one request per image (SAM2) or per box (SAM3)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_roboflow import BACKENDS as ALL_NAMES
from segkit_roboflow import SAM2_BACKENDS as SAM2_NAMES
from segkit_roboflow.testing import SAM2_PATH, SAM3_PATH, confidence_for, fill_holes, pixels_digest, reference_mask


def expected(boxes, height, width, shape="ring", fmt="rle"):
    masks = [reference_mask(b, height, width, shape) for b in boxes]
    if fmt == "polygon":  # the API's polygons are outer contours: holes come back filled
        masks = [fill_holes(m) for m in masks]
    return np.stack(masks), np.array([confidence_for(b) for b in boxes])


@pytest.mark.parametrize("fmt", ["rle", "polygon"])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_one_mask_per_box_in_order_with_the_apis_confidence(server, make_segmenter, name, fmt):
    image = sample_image(seed=1)
    boxes = SAMPLE_BOXES[[2, 0, 1]]
    server.expected_boxes = boxes.astype(np.float64)  # the server refuses boxes not sent centre-based
    result = make_segmenter(name, format=fmt).segment(image, boxes)
    masks, scores = expected(boxes, 120, 160, fmt=fmt)
    assert result.masks.dtype == bool and result.masks.shape == (3, 120, 160)
    assert np.array_equal(result.masks, masks)
    assert np.array_equal(result.scores, scores)
    assert server.problems == []
    seen = server.seen()
    assert all(s.status == 200 and s.image_encoding == "png" and s.image_digest == pixels_digest(image) for s in seen)
    assert {s.format for s in seen} == {"json" if fmt == "polygon" else "rle"}
    if name in SAM2_NAMES:
        (only,) = seen
        assert only.path == SAM2_PATH and only.sam2_version_id == SAM2_NAMES[name] and len(only.prompts) == 3
    else:
        assert [s.path for s in seen] == [SAM3_PATH] * 3 and all(len(s.prompts) == 1 for s in seen)
        assert sorted(map(tuple, (s.boxes_xyxy[0] for s in seen))) == sorted(map(tuple, boxes.tolist()))


@pytest.mark.parametrize("name", ["roboflow-sam2-large", "roboflow-sam3"])
def test_fractional_boxes_arrive_exactly(server, make_segmenter, name):
    boxes = np.array([[10.3, 12.7, 61.9, 70.2], [0.0, 0.5, 159.75, 119.5]], dtype=np.float32)
    server.expected_boxes = boxes.astype(np.float64)
    result = make_segmenter(name).segment(sample_image(), boxes)
    assert server.problems == []
    assert np.array_equal(result.masks, expected(boxes, 120, 160)[0])


@pytest.mark.parametrize("name", ["roboflow-sam2-b+", "roboflow-sam3"])
def test_polygon_and_rle_agree_to_the_pixel(server, make_segmenter, name):
    image, boxes = sample_image(), SAMPLE_BOXES
    server.shape = "blobs"  # two regions per mask, no hole
    as_rle = make_segmenter(name, format="rle").segment(image, boxes)
    as_polygon = make_segmenter(name, format="polygon").segment(image, boxes)
    assert np.array_equal(as_rle.masks, as_polygon.masks) and np.array_equal(as_rle.scores, as_polygon.scores)
    server.shape = "ring"  # with a hole: polygons cannot carry it, RLE does
    as_rle = make_segmenter(name, format="rle").segment(image, boxes)
    as_polygon = make_segmenter(name, format="polygon").segment(image, boxes)
    for rle_mask, polygon_mask in zip(as_rle.masks, as_polygon.masks):
        assert np.array_equal(polygon_mask, fill_holes(rle_mask))
        assert (polygon_mask & ~rle_mask).any()  # the hole


def test_empty_masks_decode_to_empty(server, make_segmenter):
    server.shape = "empty"
    for fmt in ("polygon", "rle"):
        result = make_segmenter("roboflow-sam2-small", format=fmt).segment(sample_image(), SAMPLE_BOXES)
        assert result.masks.shape == (3, 120, 160) and not result.masks.any()


def test_multimask_is_passed_on(server, make_segmenter):
    make_segmenter("roboflow-sam2-tiny", multimask=False).segment(sample_image(), SAMPLE_BOXES[:1])
    make_segmenter("roboflow-sam3", multimask=True).segment(sample_image(), SAMPLE_BOXES[:1])
    assert [s.multimask_output for s in server.seen()] == [False, True]


def test_sam3_sends_its_prompts_concurrently(server, make_segmenter):
    server.delay = 0.15
    boxes = np.concatenate([SAMPLE_BOXES, SAMPLE_BOXES + 2])  # 6 boxes
    segmenter = make_segmenter("roboflow-sam3", concurrency=3)
    started = time.perf_counter()
    segmenter.segment(sample_image(), boxes)
    elapsed = time.perf_counter() - started
    assert server.max_in_flight == 3  # the cap holds, and is reached
    assert elapsed < 6 * 0.15  # not one after the other
    server.clear()
    make_segmenter("roboflow-sam3", concurrency=1).segment(sample_image(), boxes[:2])
    assert server.max_in_flight == 1


def test_settings_are_recorded_without_the_key(server, make_segmenter):
    sam2 = make_segmenter("roboflow-sam2-b+", format="polygon", multimask=False).settings()
    assert sam2["api_host"] == server.url and sam2["sam2_version_id"] == "hiera_b_plus"
    assert (sam2["endpoint"], sam2["format"], sam2["multimask_output"], sam2["image_encoding"]) == (
        "/sam2/segment_image", "polygon", False, "png")
    sam3 = make_segmenter("roboflow-sam3").settings()
    assert sam3["endpoint"] == "/sam3/visual_segment" and sam3["format"] == "rle" and sam3["multimask_output"] is True
    assert "sam2_version_id" not in sam3
    assert server.api_key not in json.dumps([sam2, sam3])


def test_concurrency_option_sets_max_concurrency(make_segmenter):
    assert make_segmenter("roboflow-sam2-tiny").max_concurrency == 4
    assert make_segmenter("roboflow-sam2-tiny", concurrency=9).max_concurrency == 9
