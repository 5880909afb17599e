"""Quality flags on constructed masks: each flag appears exactly when its threshold is crossed."""

import time

import numpy as np
import pytest
from pydantic import ValidationError

from segkit.outputs.quality import (
    FLAGS,
    MaskQuality,
    QualitySettings,
    mask_flags,
    mask_quality,
    masks_flags,
)
from segkit.plugins.mock import box_mask, ellipse_mask

H, W = 120, 160
BOX = (40.0, 30.0, 120.0, 90.0)  # 80 x 60 = 4800 pixels


def blank() -> np.ndarray:
    return np.zeros((H, W), bool)


def square(mask, x, y, side):
    mask[y : y + side, x : x + side] = True
    return mask


def test_the_flags_are_named():
    assert FLAGS == ("empty", "spill", "low_fill", "fragmented")


@pytest.mark.parametrize("mask", [box_mask(np.array(BOX), H, W), ellipse_mask(np.array(BOX), H, W)])
def test_a_good_mask_has_no_flags(mask):
    assert mask_flags(mask, BOX) == []


def test_an_empty_mask_is_only_empty():
    assert mask_flags(blank(), BOX) == ["empty"]
    assert mask_quality(blank(), BOX) == MaskQuality(0, 0.0, 0.0, 0)


def test_spill_counts_the_share_of_the_mask_outside_its_box():
    mask = box_mask(np.array(BOX), H, W)  # 4800 inside
    mask[30:90, 120:128] = True  # 480 outside: 480 / 5280 = 9.1%
    quality = mask_quality(mask, BOX)
    assert quality.area == 5280 and quality.outside == pytest.approx(480 / 5280) and quality.fill == 1.0
    assert mask_flags(mask, BOX) == []
    mask[30:90, 128:132] = True  # 720 outside of 5520: 13%
    assert mask_flags(mask, BOX) == ["spill"]
    assert mask_flags(mask, BOX, QualitySettings(max_spill=0.15)) == []


def test_a_mask_entirely_outside_its_box_spills_and_fills_nothing():
    assert mask_flags(square(blank(), 0, 0, 20), BOX) == ["spill", "low_fill"]


def test_low_fill_is_under_5_percent_of_the_box():
    mask = blank()
    mask[50, 40:120] = True  # one row: 80 / 4800 = 1.7%
    assert mask_quality(mask, BOX).fill == pytest.approx(80 / 4800)
    assert mask_flags(mask, BOX) == ["low_fill"]
    mask[51:53, 40:120] = True  # three rows: 240 / 4800 = 5.0% exactly is not under 5%
    assert mask_flags(mask, BOX) == []
    assert mask_flags(mask, BOX, QualitySettings(min_fill=0.06)) == ["low_fill"]


def test_fragmented_counts_pieces_but_not_specks():
    mask = blank()
    for x in (42, 62, 82):
        square(mask, x, 40, 12)
    assert mask_quality(mask, BOX).pieces == 3 and mask_flags(mask, BOX) == []
    square(mask, 102, 40, 12)  # a fourth piece
    assert mask_quality(mask, BOX).pieces == 4 and mask_flags(mask, BOX) == ["fragmented"]
    assert mask_flags(mask, BOX, QualitySettings(max_pieces=4)) == []


def test_specks_under_min_piece_are_not_pieces():
    mask = box_mask(np.array((40, 30, 100, 90)), H, W)  # 3600 pixels
    for x in range(102, 118, 3):
        mask[35, x] = True  # six one-pixel specks inside the box: 1/3606 of the mask each
    assert mask_quality(mask, BOX).pieces == 1 and mask_flags(mask, BOX) == []
    assert mask_quality(mask, BOX, QualitySettings(min_piece=0)).pieces == 7
    assert mask_flags(mask, BOX, QualitySettings(min_piece=0)) == ["fragmented"]


def test_diagonal_neighbours_are_one_piece():
    mask = blank()
    for i in range(20):
        mask[30 + i, 40 + i] = True  # a staircase touching only at corners
    square(mask, 70, 60, 30)
    assert mask_quality(mask, BOX, QualitySettings(min_piece=0)).pieces == 2  # 21 with 4-connectivity


def test_pixels_belong_to_the_box_by_their_centre():
    # Box 40.5..119.5: column 40's centre (40.5) is in, column 119's (119.5) is not.
    mask = blank()
    mask[30:90, 40:119] = True
    quality = mask_quality(mask, (40.5, 30.0, 119.5, 90.0))
    assert quality.outside == 0.0 and quality.fill == 1.0
    mask[30:90, 119] = True
    assert mask_quality(mask, (40.5, 30.0, 119.5, 90.0)).outside == pytest.approx(60 / (80 * 60))


def test_boxes_at_the_image_border_and_beyond():
    mask = blank()
    mask[100:120, 140:160] = True
    assert mask_flags(mask, (140, 100, 200, 150)) == []  # the box reaches past the image: clipped
    assert mask_flags(mask, (0.2, 0.2, 0.4, 0.4)) == ["spill", "low_fill"]  # a box with no whole pixel


def test_several_flags_at_once_come_in_a_fixed_order():
    mask = blank()
    for x in range(0, 160, 20):
        square(mask, x, 0, 4)  # 8 pieces, all outside the box
    assert mask_flags(mask, BOX) == ["spill", "low_fill", "fragmented"]


def test_masks_of_any_integer_type_are_read_as_nonzero():
    mask = box_mask(np.array(BOX), H, W).astype(np.uint8) * 255
    assert mask_flags(mask, BOX) == []


def test_a_stack_of_masks_with_their_boxes():
    masks = np.stack([box_mask(np.array(BOX), H, W), blank(), square(blank(), 0, 0, 10)])
    boxes = np.array([BOX, BOX, BOX], dtype=np.float32)
    assert masks_flags(masks, boxes) == [[], ["empty"], ["spill", "low_fill"]]


@pytest.mark.parametrize("field, value", [("max_spill", 1.5), ("min_fill", -0.1), ("max_pieces", 0), ("min_piece", 2), ("other", 1)])
def test_settings_are_checked(field, value):
    with pytest.raises(ValidationError):
        QualitySettings(**{field: value})


def test_a_large_mask_is_flagged_quickly():
    # A 4000 x 3000 photo: a mask of a 600 x 400 object, with a few holes and a stray piece.
    mask = np.zeros((3000, 4000), bool)
    mask[1000:1400, 2000:2600] = True
    mask[1100:1110, 2100:2110] = False
    mask[1600:1650, 2700:2750] = True
    box = (1990, 990, 2610, 1410)
    started = time.perf_counter()
    for _ in range(10):
        flags = mask_flags(mask, box)
    per_mask = (time.perf_counter() - started) / 10
    assert flags == [] and mask_quality(mask, box) == MaskQuality(242400, 2500 / 242400, 239900 / (620 * 420), 2)
    assert per_mask < 0.1  # about 5 ms here: a few passes over the mask, components on its region only


def test_a_mask_sets_crops_are_measured_as_they_are():
    from segkit.outputs.mask_set import MaskSet

    spill = box_mask(np.array(BOX), H, W)
    spill[30:90, 120:132] = True
    corner = blank()
    corner[100:120, 140:160] = True  # at the image's corner; its box reaches past it
    pieces = blank()
    for x in range(42, 120, 20):
        square(pieces, x, 40, 10)
    masks = np.stack([spill, corner, pieces, blank()])
    boxes = [BOX, (140, 100, 200, 150), BOX, BOX]
    masks_set = MaskSet.from_dense(masks)
    for mask, box, item in zip(masks, boxes, masks_set.masks):
        x, y, _, _ = item.box
        crop = item.crop()
        assert mask_quality(crop, box, origin=(x, y), image_size=(W, H)) == mask_quality(mask, box)
    assert [mask_flags(m.crop(), b, origin=m.box[:2], image_size=(W, H)) for m, b in zip(masks_set.masks, boxes)] == [
        ["spill"], [], ["fragmented"], ["empty"]]
