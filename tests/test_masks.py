"""IoU and disagreement, against cases computed by hand."""

import numpy as np
import pytest

from segkit.outputs.mask_metrics import (
    area,
    backend_pairs,
    boundary,
    boundary_iou,
    boundary_width,
    disagreement,
    iou,
    ious,
    pairwise_ious,
    pairwise_ious_by_id,
    xor_by_side,
)


def masks(*rows):
    """A tiny (H, W) mask, one list per row."""
    return np.array(rows, dtype=bool)


EMPTY = masks([0, 0, 0, 0])
LEFT = masks([1, 1, 0, 0])
RIGHT = masks([0, 0, 1, 1])
LEFT3 = masks([1, 1, 1, 0])


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (EMPTY, EMPTY, 1.0),  # both empty: they agree
        (LEFT, EMPTY, 0.0),  # one empty
        (LEFT, LEFT, 1.0),  # identical
        (LEFT, RIGHT, 0.0),  # disjoint
        (LEFT, LEFT3, 2 / 3),  # nested
        (LEFT3, masks([0, 1, 1, 1]), 2 / 4),  # overlapping
    ],
)
def test_iou_hand_computed(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)
    assert ious(a[None], b[None])[0] == pytest.approx(expected)


def test_stacked_ious_and_pairs():
    a = np.stack([LEFT, EMPTY, LEFT3])
    b = np.stack([LEFT, EMPTY, RIGHT])
    np.testing.assert_allclose(ious(a, b), [1.0, 1.0, 1 / 4])
    assert ious(a[:0], b[:0]).shape == (0,)  # an image without detections
    pairs = pairwise_ious({"x": a, "y": b, "z": a})
    assert list(pairs) == [("x", "y"), ("x", "z"), ("y", "z")] == backend_pairs(["x", "y", "z"])
    np.testing.assert_allclose(pairs[("x", "z")], 1.0)
    assert area(LEFT3) == 3


def test_xor_by_side():
    only_a, only_b = xor_by_side(np.stack([LEFT3]), np.stack([RIGHT]))
    np.testing.assert_array_equal(only_a, [[1, 1, 0, 0]])
    np.testing.assert_array_equal(only_b, [[0, 0, 0, 1]])


def test_disagreement_levels():
    # Three backends, one detection, four pixels covered by 3, 2, 1, 0 of them.
    stacks = [np.stack([masks([1, 1, 1, 0])]), np.stack([masks([1, 1, 0, 0])]), np.stack([masks([1, 0, 0, 0])])]
    np.testing.assert_allclose(disagreement(stacks), [[0, 2 / 3, 2 / 3, 0]])
    two = [np.stack([LEFT]), np.stack([LEFT3])]
    np.testing.assert_allclose(disagreement(two), [[0, 0, 1, 0]])


def test_pairwise_ious_by_id_pairs_only_shared_detections():
    # Backend x answered detections 0 and 3; y answered 3, 5 and 0 (another run, another order).
    x = (np.array([0, 3]), np.stack([LEFT, LEFT3]))
    y = (np.array([3, 5, 0]), np.stack([RIGHT, LEFT, LEFT]))
    z = (np.array([0, 3]), np.stack([LEFT, EMPTY]))
    result = pairwise_ious_by_id({"x": x, "y": y, "z": z})
    assert result[("x", "y")] == {0: 1.0, 3: pytest.approx(1 / 4)}
    assert result[("x", "z")] == {0: 1.0, 3: 0.0}  # same ids, same order: compared as they are
    assert result[("y", "z")] == {3: 0.0, 0: 1.0}


def reference_boundary_iou(gt: np.ndarray, dt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    """The authors' boundary-iou-api code (Cheng et al. 2021), as published, as an oracle."""
    import cv2

    def mask_to_boundary(mask):
        h, w = mask.shape
        dilation = max(1, int(round(dilation_ratio * np.sqrt(h ** 2 + w ** 2))))
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        eroded = cv2.erode(padded, np.ones((3, 3), dtype=np.uint8), iterations=dilation)[1: h + 1, 1: w + 1]
        return mask - eroded

    a, b = mask_to_boundary(gt.astype(np.uint8)), mask_to_boundary(dt.astype(np.uint8))
    return ((a * b) > 0).sum() / ((a + b) > 0).sum()


def square(top, left, side, shape=(10, 10)):
    out = np.zeros(shape, dtype=bool)
    out[top: top + side, left: left + side] = True
    return out


def test_boundary_iou_hand_computed():
    # 10 x 10 image: 2% of the diagonal rounds to 0, so the band is 1 pixel: a 4 x 4 square's ring has 12 pixels.
    assert boundary_width(10, 10) == 1 and boundary_width(480, 640) == 16
    a, b = square(2, 2, 4), square(2, 3, 4)  # b is a shifted right by one pixel
    assert boundary(a, 1).sum() == 12
    assert boundary_iou(a, b) == pytest.approx(6 / 18)  # rings share rows 2 and 5, columns 3..5
    assert iou(a, b) == pytest.approx(12 / 20)
    assert boundary_iou(a, a) == 1.0 and boundary_iou(a, square(7, 7, 3)) == 0.0  # identical, disjoint
    empty = np.zeros((10, 10), bool)
    assert boundary_iou(empty, empty) == 1.0 and boundary_iou(a, empty) == 0.0  # as iou: both empty agree
    one, other = square(4, 4, 1), square(4, 5, 1)
    assert boundary_iou(one, one) == 1.0 and boundary_iou(one, other) == 0.0  # one pixel is all boundary
    # The image edge is contour: the whole image's band is its outer ring (36 px); one column less, 34.
    full, narrower = np.ones((10, 10), bool), np.ones((10, 10), bool)
    narrower[:, 9] = False
    assert boundary_iou(full, narrower) == pytest.approx(26 / 44)
    # A band as wide as the object makes boundary IoU the mask IoU.
    assert boundary_iou(a, b, ratio=0.5) == pytest.approx(iou(a, b))


def test_boundary_iou_matches_the_authors_code_on_random_masks():
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(8, 90, 2))
        a, b = np.zeros((h, w), bool), np.zeros((h, w), bool)
        for mask in (a, b):
            for _ in range(int(rng.integers(1, 4))):
                y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
                mask[y: y + int(rng.integers(1, 40)), x: x + int(rng.integers(1, 40))] = True
        ratio = float(rng.choice([0.02, 0.05, 0.1]))
        assert boundary_iou(a, b, ratio) == pytest.approx(reference_boundary_iou(a, b, ratio))
