"""SAM-style answers to segkit's contract: one mask and score per box. No torch."""

from __future__ import annotations

import numpy as np

from segkit import Segmentation


def best_per_box(masks: np.ndarray, scores: np.ndarray, n_boxes: int) -> Segmentation:
    """One bool mask and score per box from one image's candidate masks (C per box) and their scores.

    SAM predictors drop the box axis when there is one box ((C, H, W) and (C,) instead of (N, C, H, W) and
    (N, C)); this is the one place that puts it back. With C > 1 (multimask) the best-scoring candidate is
    kept. Masks may be 0/1 floats or bools.
    """
    masks = np.asarray(masks).reshape(n_boxes, -1, *np.shape(masks)[-2:])
    scores = np.asarray(scores, dtype=np.float64).reshape(n_boxes, -1)
    best = scores.argmax(axis=1)
    rows = np.arange(n_boxes)
    return Segmentation(masks=masks[rows, best] > 0.5, scores=scores[rows, best])
