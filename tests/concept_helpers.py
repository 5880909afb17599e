"""A throwaway concept backend whose instances are known exactly, for hand-computed tests.

``stencil`` answers each concept with the rectangles ``STENCILS`` gives its label (integer pixel boxes, so
every mask and box IoU is a ratio of rectangle areas); it takes at most one concept per call, so that an
image with two concepts is asked in two calls whose concept indices segkit must renumber. ``CALLS``
records how many concepts each call got. ``garbled`` returns masks of the wrong size on images whose
top-left pixel is red: an answer that breaks the contract.
"""

from __future__ import annotations

import threading

import numpy as np

import segkit
from segkit.plugins.mock import box_mask

SIZE = (128, 64)
# Qwen's detections on the test image: two cats and a dog.
DETECTIONS = [((0, 0, 40, 40), "cat", 0.9), ((60, 0, 100, 40), "cat", 0.8), ((10, 44, 30, 64), "dog", 0.7)]
# What the stencil finds per label: (box, score). Cat 0 overlaps detection 0 (box IoU 1280/1600 = 0.8), cat 1
# is an extra instance, the dog overlaps detection 2 (324/400 = 0.81); detection 1 is missed.
STENCILS = {"cat": [((0, 0, 40, 32), 0.9), ((100, 40, 128, 64), 0.6)], "dog": [((12, 46, 30, 64), 0.8)],
            "rectangle": [((86, 26, 144, 54), 0.7)]}  # exactly segkit.testing.sample_image's rectangle
CALLS: list[int] = []
_lock = threading.Lock()


class Stencil(segkit.ConceptSegmenter):
    """Finds the rectangles STENCILS gives each concept's label."""

    max_concepts = 1

    def segment_concepts(self, image, concepts):
        with _lock:
            CALLS.append(len(concepts))
        height, width = image.shape[:2]
        masks, scores, boxes, owners = [], [], [], []
        for index, concept in enumerate(concepts):
            for box, score in STENCILS.get(concept.label, []):
                masks.append(box_mask(np.asarray(box, np.float32), height, width))
                scores.append(score)
                boxes.append(box)
                owners.append(index)
        if not masks:
            return segkit.ConceptInstances.empty(height, width)
        return segkit.ConceptInstances(np.stack(masks), np.asarray(scores), np.asarray(boxes, np.float32), np.asarray(owners))


class Garbled(segkit.ConceptSegmenter):
    """Answers like ``mock-concept`` would, except that on a red-cornered image its masks are half size."""

    def segment_concepts(self, image, concepts):
        height, width = image.shape[:2]
        if tuple(int(v) for v in image[0, 0]) == (255, 0, 0):
            return segkit.ConceptInstances(np.zeros((1, height // 2, width // 2), bool), np.ones(1), np.zeros((1, 4)), np.zeros(1, np.int64))
        mask = box_mask(np.asarray((2, 2, 20, 20), np.float32), height, width)
        return segkit.ConceptInstances(mask[None], np.ones(1), np.asarray([(2, 2, 20, 20)], np.float32), np.zeros(1, np.int64))


class StencilPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_concept_segmenters(register):
        register("stencil", Stencil)
        register("garbled", Garbled)


def rect(box, size=SIZE) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = np.zeros((size[1], size[0]), dtype=bool)
    out[y1:y2, x1:x2] = True
    return out
