"""Polygon and RLE decoding against the server's own encoders (outer contours; COCO RLE)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segkit_roboflow.decode import MaskDecodeError, decode_polygons, decode_prediction, decode_rle
from segkit_roboflow.testing import encode_polygons, encode_rle, fill_holes, reference_mask


def test_fill_holes_fills_only_enclosed_background():
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[3, 3] = False  # a hole
    ring[0, 3] = False  # not a hole: on the border
    filled = fill_holes(ring)
    assert filled[3, 3] and not filled[0, 3] and filled.sum() == 25


def random_masks(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(4, 48, 2))
        noise = rng.random((h, w)) < rng.uniform(0.15, 0.85)
        if rng.random() < 0.5:  # smoother blobs too, not only speckle
            noise = cv2.morphologyEx(noise.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
        yield noise


def test_polygons_decode_to_the_regions_with_their_holes_filled():
    for mask in random_masks(200):
        decoded = decode_polygons(encode_polygons(mask), *mask.shape)
        assert np.array_equal(decoded, fill_holes(mask))


def test_rle_round_trips_exactly():
    for mask in random_masks(200, seed=1):
        assert np.array_equal(decode_rle(encode_rle(mask), *mask.shape), mask)


def test_ring_shape_has_several_polygons_and_a_hole_only_rle_keeps():
    box, (h, w) = (10, 12, 62, 70), (120, 160)
    mask = reference_mask(box, h, w, "ring")
    polygons = encode_polygons(mask)
    assert len(polygons) == 2  # the ring and the corner square
    from_polygons = decode_polygons(polygons, h, w)
    from_rle = decode_rle(encode_rle(mask), h, w)
    centre = (41, 36)  # row, column: inside the hole
    assert not from_rle[centre] and from_polygons[centre]
    assert np.array_equal(from_rle, mask)
    assert np.array_equal(from_polygons, fill_holes(mask))
    assert np.array_equal(from_polygons & ~from_rle, fill_holes(mask) & ~mask)  # they differ only in the hole


def test_polygons_are_united_not_even_odd():
    outer = [[2, 2], [17, 2], [17, 17], [2, 17]]
    inner = [[6, 6], [12, 6], [12, 12], [6, 12]]
    decoded = decode_polygons([outer, inner], 20, 20)
    assert decoded[2:18, 2:18].all() and decoded.sum() == 16 * 16
    one_call = np.zeros((20, 20), np.uint8)
    cv2.fillPoly(one_call, [np.array(p, np.int32) for p in (outer, inner)], 1)  # the docs' sample
    assert one_call.sum() < decoded.sum()  # would punch the inner square out


def test_degenerate_and_empty_polygons():
    assert not decode_polygons([[]], 5, 6).any()  # what the server sends for an empty mask
    assert decode_polygons([[[2, 3]]], 5, 6).sum() == 1  # a one-pixel region
    line = decode_polygons([[[1, 1], [4, 1]]], 5, 6)
    assert line.sum() == 4 and line[1, 1:5].all()
    assert np.array_equal(decode_polygons([[[0.6, 0.4], [2.4, 0.6], [2.2, 2.4], [0.4, 2.2]]], 4, 4),
                          decode_polygons([[[1, 0], [2, 1], [2, 2], [0, 2]]], 4, 4))  # floats are rounded


def test_uncompressed_rle_counts():
    mask = np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)
    counts = [2, 3, 1]  # column-major runs, starting with zeros: 0,0 | 1,1,1 | 0
    assert np.array_equal(decode_rle({"size": [2, 3], "counts": counts}, 2, 3), mask)


@pytest.mark.parametrize(
    "masks, message",
    [
        ({"size": [10, 10], "counts": "PPYo1"}, "size"),
        ({"size": [4, 4], "counts": 12}, "counts"),
        ({"counts": "abc"}, "size"),
        ([[[1, 2, 3]]], "polygon 0"),
        ([[["a", "b"]]], "polygon 0"),
        ("nope", "polygons"),
    ],
)
def test_bad_mask_data_is_a_clear_error(masks, message):
    fmt = "rle" if isinstance(masks, dict) else "polygon"
    with pytest.raises(MaskDecodeError, match=message):
        decode_prediction({"masks": masks, "confidence": 0.5, "format": fmt}, 4, 4, fmt)


def test_prediction_is_decoded_by_its_declared_format():
    mask = reference_mask((2, 2, 30, 20), 24, 32, "ellipse")
    as_rle = {"masks": encode_rle(mask), "confidence": 0.9, "format": "rle"}
    as_polygon = {"masks": encode_polygons(mask), "confidence": 0.9, "format": "polygon"}
    # an older server may ignore the format asked for: the answer says what it is
    assert np.array_equal(decode_prediction(as_rle, 24, 32, "polygon"), mask)
    assert np.array_equal(decode_prediction(as_polygon, 24, 32, "rle"), mask)
    with pytest.raises(MaskDecodeError, match="unknown mask format 'binary'"):
        decode_prediction({"masks": "x", "format": "binary"}, 24, 32, "rle")
