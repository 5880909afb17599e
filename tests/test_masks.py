"""IoU and disagreement, against cases computed by hand."""

import numpy as np
import pytest

from segkit.masks import area, backend_pairs, disagreement, iou, ious, pairwise_ious, pairwise_ious_by_id, xor_by_side


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
