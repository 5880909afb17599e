"""The one place that measures masks against each other: area, IoU, boundary IoU, XOR and disagreement.

Masks come dense ((H, W) or (N, H, W) bool), as a compact ``MaskSet`` (RLE), or, for drawing, as
``Placed`` crops: a mask cut to its extent with the position of its top-left corner.
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, NamedTuple, Sequence, Union

import cv2
import numpy as np

from segkit.outputs.mask_set import MaskSet, extent, mask_ious


class Placed(NamedTuple):
    """A mask cropped to its extent: ``crop`` covers rows y..y+h and columns x..x+w of the full mask."""

    x: int
    y: int
    crop: np.ndarray

    @classmethod
    def whole(cls, mask: np.ndarray) -> "Placed":
        return cls(0, 0, mask)


def area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks. Two empty masks agree fully: 1.0."""
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b)) / float(union)


def ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-detection IoU of two (N, H, W) mask stacks, the same convention as ``iou``."""
    pixels = int(np.prod(a.shape[1:]))
    a = a.reshape(a.shape[0], pixels)
    b = b.reshape(b.shape[0], pixels)
    inter = np.count_nonzero(a & b, axis=1).astype(np.float64)
    union = np.count_nonzero(a | b, axis=1).astype(np.float64)
    out = np.ones(a.shape[0], dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out


BOUNDARY_DILATION_RATIO = 0.02  # Cheng et al. 2021: the boundary band is 2% of the image diagonal wide


def boundary_width(height: int, width: int, ratio: float = BOUNDARY_DILATION_RATIO) -> int:
    """The boundary band's width in pixels for an image: ``ratio`` of its diagonal, rounded, at least 1."""
    return max(1, int(round(ratio * float(np.hypot(height, width)))))


def boundary(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``mask`` within ``width`` pixels of its contour (G_d ∩ G in Cheng et al. 2021).

    As in the authors' boundary-iou-api: the mask minus its erosion by a 3x3 square ``width`` times,
    with the image edge counted as contour (a mask cut by the border has a boundary there).
    """
    out = np.zeros(mask.shape, dtype=bool)
    x, y, w, h = extent(mask)
    if w == 0:
        return out
    # Erosion only looks inside the mask's bounding box (plus the one zero pixel around it), so work there.
    r0, r1, c0, c1 = y, y + h, x, x + w
    crop = np.pad(mask[r0:r1, c0:c1].astype(np.uint8), 1)
    eroded = cv2.erode(crop, np.ones((3, 3), np.uint8), iterations=width)[1:-1, 1:-1]
    out[r0:r1, c0:c1] = mask[r0:r1, c0:c1] & (eroded == 0)
    return out


def boundary_iou(a: np.ndarray, b: np.ndarray, ratio: float = BOUNDARY_DILATION_RATIO) -> float:
    """Boundary IoU (Cheng et al. 2021) of two (H, W) masks: the IoU of their boundary bands.

    The band is ``ratio`` of the image diagonal wide. Like ``iou``, two empty masks agree fully (1.0).
    """
    width = boundary_width(*a.shape[:2], ratio=ratio)
    return iou(boundary(a, width), boundary(b, width))


def pair_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


def backend_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of backends, in run order."""
    return list(combinations(names, 2))


def pairwise_ious(stacks: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """IoU per detection for every pair of backends' (N, H, W) stacks."""
    return {(a, b): ious(stacks[a], stacks[b]) for a, b in backend_pairs(list(stacks))}


Masks = Union[MaskSet, np.ndarray]


def pairwise_ious_by_id(stacks: Mapping[str, tuple[Sequence[int], Masks]]) -> dict[tuple[str, str], dict[int, float]]:
    """IoU per detection id for every pair of backends, from each backend's (ids, masks).

    Masks are a ``MaskSet`` (compared crop to crop) or a dense (N, H, W) stack. A pair
    covers the detections both backends have (merged runs may differ, in any order).
    """
    sets = {name: (list(ids), m if isinstance(m, MaskSet) else MaskSet.from_dense(np.asarray(m, dtype=bool)))
            for name, (ids, m) in stacks.items()}
    out: dict[tuple[str, str], dict[int, float]] = {}
    for a, b in backend_pairs(list(sets)):
        (ids_a, set_a), (ids_b, set_b) = sets[a], sets[b]
        at_b = {det_id: j for j, det_id in enumerate(ids_b)}
        shared = [(i, at_b[det_id]) for i, det_id in enumerate(ids_a) if det_id in at_b]
        values = mask_ious(set_a, set_b, shared)
        out[(a, b)] = {int(ids_a[i]): v for (i, _), v in zip(shared, values)}
    return out


def _local(item: Placed | None, x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """A placed crop pasted into a zero (h, w) window whose top-left is (x0, y0)."""
    out = np.zeros(shape, dtype=bool)
    if item is not None:
        h, w = item.crop.shape
        out[item.y - y0 : item.y - y0 + h, item.x - x0 : item.x - x0 + w] = item.crop
    return out


def _window(items: Sequence[Placed | None]) -> tuple[int, int, int, int] | None:
    present = [p for p in items if p is not None and p.crop.size]
    if not present:
        return None
    x0, y0 = min(p.x for p in present), min(p.y for p in present)
    x1 = max(p.x + p.crop.shape[1] for p in present)
    y1 = max(p.y + p.crop.shape[0] for p in present)
    return x0, y0, x1, y1


def xor_by_side_placed(a: Sequence[Placed | None], b: Sequence[Placed | None], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels only A covers and pixels only B covers, per detection then united: two (H, W) masks.

    ``a[i]`` and ``b[i]`` are the two backends' masks of detection i (None: no mask)."""
    only_a = np.zeros(shape, dtype=bool)
    only_b = np.zeros(shape, dtype=bool)
    for pa, pb in zip(a, b):
        window = _window([pa, pb])
        if window is None:
            continue
        x0, y0, x1, y1 = window
        la, lb = _local(pa, x0, y0, (y1 - y0, x1 - x0)), _local(pb, x0, y0, (y1 - y0, x1 - x0))
        only_a[y0:y1, x0:x1] |= la & ~lb
        only_b[y0:y1, x0:x1] |= lb & ~la
    return only_a, only_b


def disagreement_placed(per_backend: Sequence[Sequence[Placed | None]], shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel disagreement of n backends, in 0..1; ``per_backend[k][i]`` is backend k's mask of detection i.

    For each detection, a pixel that k of n backends cover scores min(k, n - k) / (n / 2): 0 where all
    agree, 1 where they split evenly. The map keeps each pixel's worst detection.
    """
    n = len(per_backend)
    out = np.zeros(shape, dtype=np.float32)
    for items in zip(*per_backend):
        window = _window(items)
        if window is None:
            continue
        x0, y0, x1, y1 = window
        counts = np.zeros((y1 - y0, x1 - x0), dtype=np.int32)
        for item in items:
            counts += _local(item, x0, y0, counts.shape)
        split = np.minimum(counts, n - counts).astype(np.float32) / (n / 2.0)
        np.maximum(out[y0:y1, x0:x1], split, out=out[y0:y1, x0:x1])
    return out


def xor_by_side(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``xor_by_side_placed`` for two dense (N, H, W) stacks."""
    return xor_by_side_placed([Placed.whole(m) for m in a], [Placed.whole(m) for m in b], a.shape[1:])


def disagreement(stacks: Sequence[np.ndarray]) -> np.ndarray:
    """``disagreement_placed`` for dense (N, H, W) stacks, one per backend."""
    return disagreement_placed([[Placed.whole(m) for m in stack] for stack in stacks], stacks[0].shape[1:])


def mask_iou_matrix(a: MaskSet, b: MaskSet) -> np.ndarray:
    """(len(a), len(b)) mask IoU of every mask of ``a`` with every mask of ``b``, crop to crop; 0 where
    either mask is empty or their extents do not overlap (what matching masks to masks needs)."""
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    if not len(a) or not len(b):
        return out
    boxes_a = np.asarray([m.box for m in a.masks], dtype=np.int64).reshape(-1, 4)
    boxes_b = np.asarray([m.box for m in b.masks], dtype=np.int64).reshape(-1, 4)
    xa, ya, xa2, ya2 = boxes_a[:, 0:1], boxes_a[:, 1:2], boxes_a[:, 0:1] + boxes_a[:, 2:3], boxes_a[:, 1:2] + boxes_a[:, 3:4]
    xb, yb, xb2, yb2 = boxes_b[:, 0], boxes_b[:, 1], boxes_b[:, 0] + boxes_b[:, 2], boxes_b[:, 1] + boxes_b[:, 3]
    overlap = (xa < xb2) & (xb < xa2) & (ya < yb2) & (yb < ya2)  # only these pairs are decoded and compared
    overlap &= (np.asarray(a.areas)[:, None] > 0) & (np.asarray(b.areas)[None, :] > 0)
    pairs = list(zip(*(idx.tolist() for idx in np.nonzero(overlap))))
    for (i, j), value in zip(pairs, mask_ious(a, b, pairs)):
        out[i, j] = value
    return out
