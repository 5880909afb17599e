"""The one place that converts box coordinates.

Detectors speak many dialects: normalized 0..1 (the seed plan's Qwen JSON), 0..1000 (Qwen2-VL), pixels
of the image, pixels of a resized model input (Qwen2.5-VL), COCO's x, y, w, h, Roboflow's centre-based
boxes. Everything becomes pixel xyxy of the image here, clipped, with swapped corners put in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]


@dataclass(frozen=True)
class BoxSpace:
    """What the numbers of a box are measured in."""

    kind: Literal["normalized", "per_mille", "pixels", "frame", "smart_resize"]
    frame: tuple[float, float] | None = None  # (width, height) for kind == "frame"
    max_pixels: int = 0  # for kind == "smart_resize"

    @classmethod
    def frame_of(cls, width: float, height: float) -> "BoxSpace":
        """Pixels of a (width x height) picture that was resized from the real image."""
        if not (width > 0 and height > 0):
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        return cls("frame", (float(width), float(height)))

    @classmethod
    def smart_resized(cls, max_pixels: int = 16384 * 28 * 28) -> "BoxSpace":
        """Pixels of the input Qwen2.5-VL's processor made from the image (its ``smart_resize``)."""
        return cls("smart_resize", None, max_pixels)

    def scale_to(self, image_width: int, image_height: int) -> tuple[float, float]:
        if self.kind == "smart_resize":
            width, height = qwen_smart_resize(image_width, image_height, max_pixels=self.max_pixels)
            return image_width / width, image_height / height
        if self.kind == "normalized":
            return float(image_width), float(image_height)
        if self.kind == "per_mille":
            return image_width / 1000.0, image_height / 1000.0
        if self.kind == "frame":
            assert self.frame is not None
            return image_width / self.frame[0], image_height / self.frame[1]
        return 1.0, 1.0

    def describe(self) -> str:
        if self.kind == "frame":
            assert self.frame is not None
            return f"pixels of a {self.frame[0]:g}x{self.frame[1]:g} input"
        if self.kind == "smart_resize":
            return f"pixels of Qwen2.5-VL's smart-resized input (max_pixels={self.max_pixels})"
        return {"normalized": "normalized 0..1", "per_mille": "0..1000", "pixels": "pixels"}[self.kind]


def qwen_smart_resize(
    width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 16384 * 28 * 28
) -> tuple[int, int]:
    """(width, height) that Qwen2.5-VL's image processor resizes an image to (multiples of 28)."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def parse_input_size(text: str | None) -> BoxSpace | None:
    """``--input-size``: ``WxH`` of a resized detector input, ``smart-resize[:MAX_PIXELS]``, or None."""
    if text is None or str(text).strip() == "":
        return None
    value = str(text).strip().lower()
    if value.startswith("smart-resize"):
        _, _, rest = value.partition(":")
        return BoxSpace.smart_resized(int(rest)) if rest else BoxSpace.smart_resized()
    width, sep, height = value.partition("x")
    if not sep:
        raise ValueError(f"input size {text!r} is not WxH (e.g. 1288x966) or smart-resize")
    return BoxSpace.frame_of(float(width), float(height))


NORMALIZED = BoxSpace("normalized")
PER_MILLE = BoxSpace("per_mille")
PIXELS = BoxSpace("pixels")


def as_xyxy(values: Sequence[float], fmt: BoxFormat) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in values)
    if fmt == "xyxy":
        return a, b, c, d
    if fmt == "xywh":
        return a, b, a + c, b + d
    if fmt == "cxcywh":
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    raise ValueError(f"unknown box format {fmt!r}")


def to_pixel_xyxy(
    values: Sequence[float],
    image_size: tuple[int, int],
    space: BoxSpace = PIXELS,
    fmt: BoxFormat = "xyxy",
) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """Convert one box to pixel xyxy inside a (width, height) image.

    Returns ``(box, None)`` or ``(None, reason)`` for a box that cannot be segmented: not four finite
    numbers, or no area left once clipped to the image. Swapped corners are put in order silently.
    """
    if len(values) != 4:
        return None, f"box has {len(values)} numbers, expected 4"
    try:
        nums = [float(v) for v in values]
    except (TypeError, ValueError):
        return None, f"box {list(values)!r} is not numeric"
    if not all(math.isfinite(v) for v in nums):
        return None, f"box {nums} is not finite"
    x1, y1, x2, y2 = as_xyxy(nums, fmt)
    sx, sy = space.scale_to(*image_size)
    x1, x2 = sorted((x1 * sx, x2 * sx))
    y1, y2 = sorted((y1 * sy, y2 * sy))
    width, height = image_size
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, "box has zero area inside the image"
    return (x1, y1, x2, y2), None


def to_normalized_xyxy(box: Sequence[float], image_size: tuple[int, int]) -> list[float]:
    width, height = image_size
    x1, y1, x2, y2 = box
    return [x1 / width, y1 / height, x2 / width, y2 / height]


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) pixel xyxy -> (N, 4) centre x, centre y, width, height (Roboflow's prompt boxes)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] + wh / 2, wh], axis=1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) pixel xyxy -> (N, 4) top-left x, y, width, height (COCO's bbox)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
