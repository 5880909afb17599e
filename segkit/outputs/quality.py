"""Quality flags: cheap signs that a backend's mask for a box went wrong, to look at first.

Four flags, each against the mask's own box (the prompt it was made from):

* ``empty``: the mask has no pixel;
* ``spill``: more than ``max_spill`` of the mask lies outside its box (a box-prompted mask should stay in it);
* ``low_fill``: the mask covers less than ``min_fill`` of its box (a sliver, a speck, the wrong object);
* ``fragmented``: the mask falls apart into more than ``max_pieces`` pieces (8-connected), not counting
  specks smaller than ``min_piece`` of the mask.

``mask_quality`` measures (area, the share outside the box, the share of the box covered, pieces) and
``MaskQuality.flags`` turns the measures into flags; ``mask_flags`` does both. The work is a few
vectorised passes over the mask and OpenCV's connected components on the mask's bounding region only;
a MaskSet's crop can be measured as it is (``origin``, ``image_size``), without the full-size mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from segkit.config import QualitySettings
from segkit.inputs.box_spaces import pixel_span
from segkit.outputs.mask_set import extent

EMPTY = "empty"
SPILL = "spill"
LOW_FILL = "low_fill"
FRAGMENTED = "fragmented"
FLAGS = (EMPTY, SPILL, LOW_FILL, FRAGMENTED)


DEFAULT_SETTINGS = QualitySettings()


@dataclass(frozen=True)
class MaskQuality:
    """What the flags are decided from, for one mask and its box."""

    area: int  # mask pixels
    outside: float  # share of the mask outside its box (0 for an empty mask)
    fill: float  # share of the box's pixels the mask covers
    pieces: int  # 8-connected pieces of at least min_piece of the mask

    def flags(self, settings: QualitySettings = DEFAULT_SETTINGS) -> list[str]:
        if self.area == 0:
            return [EMPTY]
        found = []
        if self.outside > settings.max_spill:
            found.append(SPILL)
        if self.fill < settings.min_fill:
            found.append(LOW_FILL)
        if self.pieces > settings.max_pieces:
            found.append(FRAGMENTED)
        return found


def mask_quality(mask: np.ndarray, box: Sequence[float], settings: QualitySettings = DEFAULT_SETTINGS, *,
                 origin: tuple[int, int] = (0, 0), image_size: tuple[int, int] | None = None) -> MaskQuality:
    """Measure one mask against its pixel-xyxy box (a pixel is in the box when its centre is).

    ``mask`` is the (H, W) mask of the image, or a crop of it that holds all its pixels (a MaskSet's
    crop): then ``origin`` is the crop's top-left (x, y) in the image and ``image_size`` the image's
    (width, height), so that the box is clipped to the image, not to the crop.
    """
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        mask = mask != 0
    ox, oy = origin
    width, height = image_size or (ox + mask.shape[1], oy + mask.shape[0])
    x1, y1, x2, y2 = (float(v) for v in box)
    c0, c1 = pixel_span(x1, x2, width)
    r0, r1 = pixel_span(y1, y2, height)
    box_pixels = (r1 - r0) * (c1 - c0)

    left, top, w, h = extent(mask)
    if w == 0:
        return MaskQuality(0, 0.0, 0.0, 0)
    region = mask[top : top + h, left : left + w]  # the mask's bounding region: everything below works on it only
    area = int(np.count_nonzero(region))
    inside_box = mask[max(r0 - oy, 0) : max(r1 - oy, 0), max(c0 - ox, 0) : max(c1 - ox, 0)]
    inside = int(np.count_nonzero(inside_box)) if box_pixels else 0
    return MaskQuality(
        area=area,
        outside=(area - inside) / area,
        fill=inside / box_pixels if box_pixels else 0.0,
        pieces=_pieces(region, area, settings.min_piece),
    )


def mask_flags(mask: np.ndarray, box: Sequence[float], settings: QualitySettings = DEFAULT_SETTINGS, *,
               origin: tuple[int, int] = (0, 0), image_size: tuple[int, int] | None = None) -> list[str]:
    """The quality flags of one mask (or crop, see ``mask_quality``) made from a pixel-xyxy box, in ``FLAGS`` order."""
    return mask_quality(mask, box, settings, origin=origin, image_size=image_size).flags(settings)


def masks_flags(masks: np.ndarray, boxes: np.ndarray, settings: QualitySettings = DEFAULT_SETTINGS) -> list[list[str]]:
    """Flags for each mask of an (N, H, W) stack with its box of an (N, 4) pixel-xyxy array."""
    return [mask_flags(mask, box, settings) for mask, box in zip(masks, np.asarray(boxes).reshape(-1, 4))]


def _pieces(region: np.ndarray, area: int, min_piece: float) -> int:
    import cv2

    # Labels, then sizes by bincount: four times faster than connectedComponentsWithStats here.
    count, labels = cv2.connectedComponents(np.ascontiguousarray(region).view(np.uint8), connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=count)[1:]  # label 0 is the background
    return int(np.count_nonzero(sizes >= max(1.0, min_piece * area)))
