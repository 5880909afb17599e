"""Box spaces by name (--box-space and its old name --input-size), model presets, and the warnings for
boxes that clearly do not fit the space they were declared in."""

import numpy as np
import pytest

from segkit.config import Settings
from segkit.errors import ConfigError
from segkit.inputs.box_spaces import (
    NORMALIZED,
    PER_MILLE,
    PIXELS,
    QWEN25_VL_MAX_PIXELS,
    BoxSpace,
    box_space_for_model,
    box_space_mismatch,
    box_space_setting,
    parse_box_space,
    parse_input_size,
    qwen_smart_resize,
    to_pixel_xyxy,
)
from segkit.inputs.detections import RawDetection, box_space_warning


@pytest.mark.parametrize(
    "text, expected",
    [
        ("pixels", PIXELS),
        ("normalized", NORMALIZED),
        ("per-mille", PER_MILLE),
        ("0..1000", PER_MILLE),
        ("Qwen3-VL", PER_MILLE),
        ("qwen2-vl", PER_MILLE),
        ("qwen2.5-vl", BoxSpace.smart_resized(12845056)),
        ("qwen2.5-vl:1003520", BoxSpace.smart_resized(1003520)),
        ("smart-resize", BoxSpace.smart_resized(12845056)),
        ("smart-resize:200704", BoxSpace.smart_resized(200704)),
        ("1288x966", BoxSpace.frame_of(1288, 966)),
        (" 640X480 ", BoxSpace.frame_of(640, 480)),
        (None, None),
        ("", None),
    ],
)
def test_box_spaces_by_name(text, expected):
    assert parse_box_space(text) == expected
    assert parse_input_size(text) == expected  # the old option's name reads the same


@pytest.mark.parametrize("space", [PIXELS, NORMALIZED, PER_MILLE, BoxSpace.smart_resized(1003520), BoxSpace.frame_of(1288, 966)])
def test_spec_reads_back(space):
    assert parse_box_space(space.spec()) == space


@pytest.mark.parametrize("text, message", [
    ("1288", "is not a box space; use one of pixels, normalized, per-mille"),
    ("0x10", "is not a box space"),
    ("pixel-ish", "is not a box space"),
    ("qwen2.5-vl:lots", "MAX_PIXELS must be a whole number of at least 3136"),
    ("smart-resize:100", "MAX_PIXELS must be a whole number of at least 3136"),
])
def test_bad_box_spaces_say_what_to_write(text, message):
    with pytest.raises(ValueError, match=message):
        parse_box_space(text)


def test_qwen25_default_is_the_processors_max_pixels():
    assert QWEN25_VL_MAX_PIXELS == 12845056


def test_smart_resize_pinned_to_the_processor():
    # Worked by hand from Qwen2.5-VL's processor (height/width rounded to 28, then scaled into max_pixels).
    assert qwen_smart_resize(1920, 1080, max_pixels=1003520) == (1316, 728)
    assert qwen_smart_resize(512, 512) == (504, 504)
    assert qwen_smart_resize(640, 427, max_pixels=200704) == (532, 364)


@pytest.mark.parametrize("model, expected", [
    ("Qwen/Qwen2.5-VL-7B-Instruct", BoxSpace.smart_resized(12845056)),
    ("qwen2.5vl:7b", BoxSpace.smart_resized(12845056)),  # Ollama's name
    ("Qwen/Qwen3-VL-8B-Instruct", PER_MILLE),
    ("qwen3-vl:30b-a3b", PER_MILLE),
    ("Qwen/Qwen2-VL-7B-Instruct", PER_MILLE),
    ("gpt-4o", None),
    ("qwen-vl-max", None),  # which generation it is cannot be told from the name
])
def test_box_space_from_the_model_name(model, expected):
    assert box_space_for_model(model) == expected


def test_box_space_setting_precedence_and_conflicts():
    settings = Settings(box_space="normalized", input_size="10x10")
    assert box_space_setting("qwen3-vl", None, settings) == "qwen3-vl"
    assert box_space_setting(None, " qwen3-vl ", settings) == "qwen3-vl"
    assert box_space_setting("qwen3-vl", "QWEN3-VL", settings) == "qwen3-vl"
    assert box_space_setting(None, None, settings) == "normalized"
    assert box_space_setting(None, None, Settings(input_size="10x10")) == "10x10"
    assert box_space_setting(None, None, Settings()) is None
    with pytest.raises(ConfigError, match="disagree"):
        box_space_setting("pixels", "10x10", settings)
    with pytest.raises(ConfigError, match="^box_space: 'huh' is not a box space"):
        box_space_setting(None, None, Settings(box_space="huh"))


def test_per_mille_boxes_land_on_the_image():
    box, _ = to_pixel_xyxy([250, 500, 750, 1000], (640, 480), parse_box_space("qwen3-vl"))
    assert box == pytest.approx((160, 240, 480, 480))


# -- boxes that do not fit -------------------------------------------------------------------------


def mismatch(boxes, space, size):
    return box_space_mismatch(np.asarray(boxes, float), space, size)


@pytest.mark.parametrize("boxes, space, size", [
    ([[10, 20, 630, 470]], PIXELS, (640, 480)),
    ([[10, 20, 641, 481]], PIXELS, (640, 480)),  # a pixel past the edge is how models draw
    ([[0.1, 0.2, 1.0, 1.0]], NORMALIZED, (640, 480)),
    ([[100, 200, 1000, 1000]], PER_MILLE, (640, 480)),
    ([[10, 20, 500, 370]], BoxSpace.smart_resized(200704), (640, 427)),  # inside the 532x364 input... almost
    ([[100, 100, 3900, 2900]], PIXELS, (4000, 3000)),
    ([[100, 100, 900, 900]], PIXELS, (1200, 900)),  # not large enough for the top-left test
    ([[100, 100, 900, 900]], PER_MILLE, (4000, 3000)),
    ([], PIXELS, (640, 480)),
    ([[np.nan, 0, 10, 10]], PIXELS, (640, 480)),
])
def test_boxes_that_fit_are_not_questioned(boxes, space, size):
    assert mismatch(boxes, space, size) is None


def test_pixel_boxes_beyond_the_image_look_per_mille():
    message = mismatch([[100, 100, 900, 950], [10, 10, 50, 50]], PIXELS, (640, 480))
    assert message.startswith("boxes reach x=900, y=950, beyond the 640x480 image")
    assert "likely 0..1000 (--box-space per-mille" in message and "pixels of the" not in message


def test_pixel_boxes_far_beyond_1000_name_a_larger_input():
    message = mismatch([[100, 100, 1900, 1200]], PIXELS, (640, 480))
    assert "likely pixels of a larger input" in message and "--box-space WxH" in message


def test_every_box_in_the_top_left_1000_of_a_large_image():
    message = mismatch([[120, 80, 990, 700], [500, 500, 800, 990]], PIXELS, (4032, 3024))
    assert message.startswith("every box lies inside the top-left 1000x1000 of the 4032x3024 image")
    assert "per-mille" in message and "qwen2.5-vl:MAX_PIXELS" in message


def test_normalized_values_above_1():
    message = mismatch([[120, 80, 600, 470]], NORMALIZED, (640, 480))
    assert message.startswith("values reach 600, above 1;")
    assert "0..1000 (--box-space per-mille" in message and "pixels of the 640x480 image (--box-space pixels)" in message
    only_pixels = mismatch([[120, 80, 1500, 900]], NORMALIZED, (1600, 1200))
    assert "per-mille" not in only_pixels and "pixels of the 1600x1200 image" in only_pixels


def test_per_mille_values_above_1000_and_tiny_values():
    assert "above 1000; they are likely pixels of the 2000x1500 image" in mismatch([[100, 100, 1800, 1400]], PER_MILLE, (2000, 1500))
    assert "every number is at most 1" in mismatch([[0.1, 0.1, 0.9, 0.8]], PER_MILLE, (640, 480))
    assert "likely normalized 0..1 (--box-space normalized)" in mismatch([[0.1, 0.1, 0.9, 0.8]], PIXELS, (640, 480))


def test_smart_resize_input_overshoot_names_the_image_pixels():
    # Declared pixels of a 532x364 input (max_pixels 200704) but the boxes are of the 640x427 image.
    message = mismatch([[300, 100, 630, 420]], BoxSpace.smart_resized(200704), (640, 427))
    assert message.startswith("boxes reach x=630, y=420, beyond the 532x364 input")
    assert "pixels of the 640x427 image (--box-space pixels)" in message


def test_box_space_warning_reads_raw_detections_in_their_format():
    raws = [RawDetection(0, "a", (10, 10, 700, 20), PIXELS, "xywh")]  # x + w = 710, beyond 640
    assert box_space_warning(raws, (640, 480)).startswith("boxes do not fit pixels (pixels): boxes reach x=710")
    assert box_space_warning([RawDetection(0, "a", (10, 10, 100, 20), PIXELS, "xywh")], (640, 480)) is None
    assert box_space_warning([RawDetection(0, "a", ("x", 1, 2), PIXELS)], (640, 480)) is None
