import math

import numpy as np
import pytest

from segkit.inputs.box_spaces import (
    NORMALIZED,
    PER_MILLE,
    PIXELS,
    BoxSpace,
    parse_input_size,
    qwen_smart_resize,
    to_normalized_xyxy,
    to_pixel_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

SIZE = (200, 100)  # width, height


@pytest.mark.parametrize(
    "values, space, fmt, expected",
    [
        ([0.1, 0.2, 0.5, 0.9], NORMALIZED, "xyxy", (20, 20, 100, 90)),
        ([100, 200, 500, 900], PER_MILLE, "xyxy", (20, 20, 100, 90)),
        ([20, 20, 100, 90], PIXELS, "xyxy", (20, 20, 100, 90)),
        ([20, 20, 80, 70], PIXELS, "xywh", (20, 20, 100, 90)),
        ([60, 55, 80, 70], PIXELS, "cxcywh", (20, 20, 100, 90)),
        ([10, 10, 50, 45], BoxSpace.frame_of(100, 50), "xyxy", (20, 20, 100, 90)),
    ],
)
def test_every_dialect_lands_on_the_same_pixel_box(values, space, fmt, expected):
    box, problem = to_pixel_xyxy(values, SIZE, space, fmt)
    assert problem is None
    assert box == pytest.approx(expected)


def test_swapped_corners_are_reordered():
    box, _ = to_pixel_xyxy([100, 90, 20, 20], SIZE)
    assert box == (20, 20, 100, 90)


def test_boxes_are_clipped_to_the_image():
    box, _ = to_pixel_xyxy([-0.2, -1, 1.5, 0.5], SIZE, NORMALIZED)
    assert box == (0, 0, 200, 50)


@pytest.mark.parametrize(
    "values, reason",
    [
        ([10, 10, 10, 50], "zero area"),
        ([10, 10, 50, 10], "zero area"),
        ([300, 10, 400, 50], "zero area"),  # entirely outside: nothing left after clipping
        ([math.nan, 0, 10, 10], "not finite"),
        ([0, 0, math.inf, 10], "not finite"),
        ([0, 0, 10], "expected 4"),
        (["a", 0, 10, 10], "not numeric"),
    ],
)
def test_degenerate_boxes_are_reported_not_raised(values, reason):
    box, problem = to_pixel_xyxy(values, SIZE)
    assert box is None
    assert reason in problem


def test_round_trips_for_the_api_formats():
    boxes = np.array([[20, 20, 100, 90], [0, 0, 1, 1]], dtype=np.float32)
    np.testing.assert_allclose(xyxy_to_cxcywh(boxes), [[60, 55, 80, 70], [0.5, 0.5, 1, 1]])
    np.testing.assert_allclose(xyxy_to_xywh(boxes), [[20, 20, 80, 70], [0, 0, 1, 1]])
    assert to_normalized_xyxy((20, 20, 100, 90), SIZE) == [0.1, 0.2, 0.5, 0.9]


def test_qwen_smart_resize_matches_the_processor_rules():
    # Multiples of 28, aspect kept, pixel budget respected (values from Qwen2.5-VL's processor).
    assert qwen_smart_resize(640, 480) == (644, 476)
    w, h = qwen_smart_resize(8000, 6000)
    assert w % 28 == 0 and h % 28 == 0 and w * h <= 16384 * 28 * 28
    assert qwen_smart_resize(10, 10) == (56, 56)


def test_smart_resize_space_rescales_to_the_image():
    box, _ = to_pixel_xyxy([0, 0, 644, 476], (640, 480), BoxSpace.smart_resized())
    assert box == pytest.approx((0, 0, 640, 480))


def test_parse_input_size():
    assert parse_input_size(None) is None
    assert parse_input_size("1288x966") == BoxSpace.frame_of(1288, 966)
    assert parse_input_size("smart-resize").kind == "smart_resize"
    assert parse_input_size("smart-resize:1003520").max_pixels == 1003520
    with pytest.raises(ValueError, match="WxH"):
        parse_input_size("1288")
