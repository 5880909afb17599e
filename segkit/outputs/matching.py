"""Pairing things that were not asked for one by one: a concept backend's instances with the detections
(by box IoU), and one backend's masks with another's (by mask IoU).

A concept backend answers "every person in the image", not "the mask of detection 3", so before its
masks can be compared with a box backend's they must be paired with the detections. Both pairings here
are greedy, highest IoU first, one-to-one, and keep a pair only at ``threshold`` or above; ties go to the
lower index on side a, then on side b, so the result never depends on dict or thread order.

Labels gate the pairing: an item whose label the other side also uses pairs only with items of that
label; an item whose label the other side does not know (the phrase "person" against Qwen's label "人")
may pair with anything. Which sides are gated is the caller's choice (``gate_a``, ``gate_b``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from segkit.inputs.box_spaces import xyxy_to_xywh
from segkit.outputs.mask_metrics import mask_iou_matrix
from segkit.outputs.mask_set import MaskSet

DEFAULT_IOU_MATCH = 0.5


def box_ious(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> np.ndarray:
    """(len(a), len(b)) IoU of pixel xyxy boxes, by pycocotools."""
    from pycocotools import mask as mask_utils

    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    xywh_a, xywh_b = xyxy_to_xywh(np.asarray(a, float)).tolist(), xyxy_to_xywh(np.asarray(b, float)).tolist()
    return np.asarray(mask_utils.iou(xywh_a, xywh_b, [0] * len(xywh_b)), dtype=np.float64).reshape(len(xywh_a), len(xywh_b))


def label_gate(labels_a: Sequence[str], labels_b: Sequence[str], gate_a: bool = True, gate_b: bool = True) -> np.ndarray:
    """(len(a), len(b)) bool: may a[i] pair with b[j]? Equal labels always may; otherwise a gated side's
    item may not when its label is one the other side uses."""
    codes = {label: k for k, label in enumerate(dict.fromkeys([*labels_a, *labels_b]))}
    ca = np.asarray([codes[label] for label in labels_a], dtype=np.int64)
    cb = np.asarray([codes[label] for label in labels_b], dtype=np.int64)
    known_a = np.isin(ca, cb) if gate_a else np.zeros(len(ca), bool)  # a's label is one side b uses too
    known_b = np.isin(cb, ca) if gate_b else np.zeros(len(cb), bool)
    return (ca[:, None] == cb[None, :]) | ~(known_a[:, None] | known_b[None, :])


def greedy_pairs(ious: np.ndarray, allowed: np.ndarray | None, threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs (i, j, iou), highest IoU first, each at least ``threshold`` (and above 0)."""
    if ious.size == 0:
        return []
    ok = (ious >= threshold) & (ious > 0)
    if allowed is not None:
        ok &= allowed
    rows, cols = np.nonzero(ok)
    order = sorted(range(len(rows)), key=lambda k: (-ious[rows[k], cols[k]], rows[k], cols[k]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for k in order:
        i, j = int(rows[k]), int(cols[k])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((i, j, float(ious[i, j])))
    return pairs


@dataclass
class Pairing:
    """What a pairing found: pairs (i, j, iou) in the order found, and the indices left on each side."""

    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    only_a: list[int] = field(default_factory=list)
    only_b: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, pairs: list[tuple[int, int, float]], n_a: int, n_b: int) -> "Pairing":
        used_a, used_b = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
        return cls(pairs, [i for i in range(n_a) if i not in used_a], [j for j in range(n_b) if j not in used_b])


def match_boxes(det_boxes: Sequence[Sequence[float]], det_labels: Sequence[str], inst_boxes: Sequence[Sequence[float]],
                inst_labels: Sequence[str], threshold: float = DEFAULT_IOU_MATCH) -> Pairing:
    """Detections (side a) with a concept backend's instances (side b) by box IoU. Only the instance's label
    gates: within the same label when it is one of the image's detection labels, any label otherwise."""
    ious = box_ious(det_boxes, inst_boxes)
    allowed = label_gate(det_labels, inst_labels, gate_a=False, gate_b=True)
    return Pairing.of(greedy_pairs(ious, allowed, threshold), len(det_boxes), len(inst_boxes))


def match_masks(a: MaskSet, labels_a: Sequence[str], b: MaskSet, labels_b: Sequence[str],
                threshold: float = DEFAULT_IOU_MATCH, gate_a: bool = True, gate_b: bool = True) -> Pairing:
    """Two backends' masks of one image by mask IoU (empty masks pair with nothing)."""
    ious = mask_iou_matrix(a, b)
    return Pairing.of(greedy_pairs(ious, label_gate(labels_a, labels_b, gate_a, gate_b), threshold), len(a), len(b))
