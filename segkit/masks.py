"""The one place that measures masks against each other: area, IoU, XOR and disagreement."""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

import numpy as np


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


def pair_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


def backend_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of backends, in run order."""
    return list(combinations(names, 2))


def pairwise_ious(stacks: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """IoU per detection for every pair of backends' (N, H, W) stacks."""
    return {(a, b): ious(stacks[a], stacks[b]) for a, b in backend_pairs(list(stacks))}


def pairwise_ious_by_id(stacks: Mapping[str, tuple[Sequence[int], np.ndarray]]) -> dict[tuple[str, str], dict[int, float]]:
    """IoU per detection id for every pair of backends, from each backend's (ids, (N, H, W) masks).

    A pair covers the detections both backends have (merged runs may differ); when they have the same
    detections in the same order, the stacks are compared as they are, without copying them.
    """
    out: dict[tuple[str, str], dict[int, float]] = {}
    for a, b in backend_pairs(list(stacks)):
        (ids_a, masks_a), (ids_b, masks_b) = stacks[a], stacks[b]
        if list(ids_a) == list(ids_b):
            shared_ids, values = list(ids_a), ious(masks_a, masks_b)
        else:
            at_b = {det_id: j for j, det_id in enumerate(ids_b)}
            shared = [(i, at_b[det_id]) for i, det_id in enumerate(ids_a) if det_id in at_b]
            shared_ids = [ids_a[i] for i, _ in shared]
            values = ious(masks_a[[i for i, _ in shared]], masks_b[[j for _, j in shared]])
        out[(a, b)] = {det_id: float(v) for det_id, v in zip(shared_ids, values)}
    return out


def xor_by_side(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels only A covers and pixels only B covers, per detection then united: two (H, W) masks."""
    return np.any(a & ~b, axis=0), np.any(b & ~a, axis=0)


def disagreement(stacks: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel disagreement of several backends' (N, H, W) stacks, in 0..1.

    For each detection, a pixel that k of n backends cover scores min(k, n - k) / (n / 2): 0 where all
    agree, 1 where they split evenly. The map keeps each pixel's worst detection.
    """
    n = len(stacks)
    counts = np.sum(np.stack(stacks, axis=0), axis=0, dtype=np.int32)  # (N, H, W)
    split = np.minimum(counts, n - counts).astype(np.float32) / (n / 2.0)
    return split.max(axis=0) if split.shape[0] else np.zeros(split.shape[1:], np.float32)
