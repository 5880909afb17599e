"""The one place that converts box coordinates.

Detectors speak many dialects: normalized 0..1 (the seed plan's Qwen JSON), 0..1000 (Qwen2-VL and
Qwen3-VL), pixels of the image, pixels of a resized model input (Qwen2.5-VL), COCO's x, y, w, h,
Roboflow's centre-based boxes. Everything becomes pixel xyxy of the image here, clipped, with swapped
corners put in order. ``parse_box_space`` reads the user's name for a space (``--box-space``), and
``box_space_mismatch`` notices boxes that clearly do not fit the space they were declared in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from segkit.errors import ConfigError
from segkit.text import preview

if TYPE_CHECKING:
    from segkit.config import Settings

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

    def spec(self) -> str:
        """The name ``parse_box_space`` reads back: pixels, normalized, per-mille, WxH, smart-resize:N."""
        if self.kind == "frame":
            assert self.frame is not None
            return f"{self.frame[0]:g}x{self.frame[1]:g}"
        if self.kind == "smart_resize":
            return f"smart-resize:{self.max_pixels}"
        return {"normalized": "normalized", "per_mille": "per-mille", "pixels": "pixels"}[self.kind]

    def frame_size(self, image_width: int, image_height: int) -> tuple[float, float]:
        """How far the numbers reach for an image of this size: (width, height) in this space's units."""
        sx, sy = self.scale_to(image_width, image_height)
        return image_width / sx, image_height / sy

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


NORMALIZED = BoxSpace("normalized")
PER_MILLE = BoxSpace("per_mille")
PIXELS = BoxSpace("pixels")

QWEN25_VL_MAX_PIXELS = 16384 * 28 * 28  # the processor's default max_pixels (12845056)
QWEN_MIN_PIXELS = 56 * 56
BOX_SPACE_CHOICES = "pixels, normalized, per-mille, smart-resize[:MAX_PIXELS], WxH, qwen2.5-vl[:MAX_PIXELS], qwen3-vl"
BOX_SPACE_HELP = (
    "What the detector's box numbers are measured in: pixels (of the image), normalized (0..1), per-mille"
    " (0..1000), WxH (pixels of a resized WxH input), smart-resize[:MAX_PIXELS] (pixels of Qwen2.5-VL's"
    " resized input), or a model preset: qwen2.5-vl[:MAX_PIXELS] (= smart-resize), qwen3-vl and qwen2-vl (= per-mille)."
)
_NAMED = {
    "pixels": PIXELS, "pixel": PIXELS, "px": PIXELS,
    "normalized": NORMALIZED, "normalised": NORMALIZED, "0..1": NORMALIZED,
    "per-mille": PER_MILLE, "per_mille": PER_MILLE, "permille": PER_MILLE, "0..1000": PER_MILLE,
    "qwen3-vl": PER_MILLE, "qwen2-vl": PER_MILLE,
}
_SMART_RESIZE_NAMES = ("smart-resize", "qwen2.5-vl")
_FRAME = re.compile(r"^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)$")


def parse_box_space(text: str | None) -> BoxSpace | None:
    """``--box-space`` (and its old name ``--input-size``): a space by name, a model preset, or None.

    ``pixels``, ``normalized``, ``per-mille``, ``WxH``, ``smart-resize[:MAX_PIXELS]``, and the presets
    ``qwen2.5-vl[:MAX_PIXELS]`` (pixels of its smart-resized input), ``qwen3-vl`` and ``qwen2-vl`` (0..1000).
    """
    if text is None or str(text).strip() == "":
        return None
    value = str(text).strip().lower()
    if value in _NAMED:
        return _NAMED[value]
    name, _, rest = value.partition(":")
    if name in _SMART_RESIZE_NAMES:
        if not rest:
            return BoxSpace.smart_resized(QWEN25_VL_MAX_PIXELS)
        if not rest.isdigit() or int(rest) < QWEN_MIN_PIXELS:
            raise ValueError(f"{text!r}: MAX_PIXELS must be a whole number of at least {QWEN_MIN_PIXELS}"
                             f" (the server's max_pixels, e.g. {name}:1003520)")
        return BoxSpace.smart_resized(int(rest))
    frame = _FRAME.match(value)
    if frame and float(frame.group(1)) > 0 and float(frame.group(2)) > 0:
        return BoxSpace.frame_of(float(frame.group(1)), float(frame.group(2)))
    raise ValueError(f"{text!r} is not a box space; use one of {BOX_SPACE_CHOICES} (e.g. 1288x966)")


parse_input_size = parse_box_space  # ``--input-size``, the option's name before ``--box-space``


def box_space_for_model(model: str) -> BoxSpace | None:
    """The box space a model answers in, when its name says which Qwen-VL generation it is."""
    key = re.sub(r"[^a-z0-9]", "", model.lower())
    if "qwen25vl" in key:
        return BoxSpace.smart_resized(QWEN25_VL_MAX_PIXELS)
    if "qwen3vl" in key or "qwen2vl" in key:
        return PER_MILLE
    return None


# -- boxes that do not fit their declared space ---------------------------------------------------

OVERSHOOT = 0.02  # a model's box may poke a little past the edge; more than 2% (and 2 units) is a mismatch
LARGE_IMAGE_PIXELS = 2_000_000  # big enough that boxes all inside its top-left 1000x1000 are suspicious


def box_space_mismatch(boxes: np.ndarray, space: BoxSpace, image_size: tuple[int, int]) -> str | None:
    """Why boxes (N, 4) xyxy, in ``space``'s units, clearly do not fit that space, naming the likely one.

    Three signs: numbers past the far edge of the space (pixel boxes beyond the image, normalized values
    above 1, per-mille values above 1000), every number at most 1 in a space that is not normalized, and
    every box inside the top-left 1000x1000 of a large picture (0..1000 boxes read as pixels). None when
    the boxes fit, or there are none.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    width, height = image_size
    reach_x = float(np.abs(boxes[:, [0, 2]]).max())
    reach_y = float(np.abs(boxes[:, [1, 3]]).max())
    reach = max(reach_x, reach_y)
    frame_w, frame_h = space.frame_size(width, height)
    kind = space.kind
    if kind != "normalized" and 0 < reach <= 1.0:
        return f"every number is at most 1, not {space.describe()}; they are likely normalized 0..1 (--box-space normalized)"
    if not _within(reach_x, reach_y, frame_w, frame_h):
        if kind == "normalized":
            problem = f"values reach {reach:g}, above 1"
        elif kind == "per_mille":
            problem = f"values reach {reach:g}, above 1000"
        elif kind == "pixels":
            problem = f"boxes reach x={reach_x:g}, y={reach_y:g}, beyond the {width}x{height} image"
        else:
            problem = f"boxes reach x={reach_x:g}, y={reach_y:g}, beyond the {frame_w:g}x{frame_h:g} input ({space.describe()})"
        likely = []
        if kind != "per_mille" and _within(reach_x, reach_y, 1000, 1000):
            likely.append("0..1000 (--box-space per-mille; Qwen2-VL and Qwen3-VL answer so)")
        if kind != "pixels" and _within(reach_x, reach_y, width, height):
            likely.append(f"pixels of the {width}x{height} image (--box-space pixels)")
        if not likely:
            likely.append("pixels of a larger input than the detector was said to see (--box-space WxH)")
        return f"{problem}; they are likely {' or '.join(likely)}"
    large = frame_w * frame_h >= LARGE_IMAGE_PIXELS and max(frame_w, frame_h) > 1000 * (1 + OVERSHOOT) + 2
    if kind != "per_mille" and large and _within(reach_x, reach_y, 1000, 1000):
        what = f"the {width}x{height} image" if kind == "pixels" else f"the {frame_w:g}x{frame_h:g} input ({space.describe()})"
        likely = "0..1000 (--box-space per-mille; Qwen2-VL and Qwen3-VL answer so)"
        if kind == "pixels":
            likely += " or pixels of Qwen2.5-VL's smaller resized input (--box-space qwen2.5-vl:MAX_PIXELS, the server's max_pixels)"
        return f"every box lies inside the top-left 1000x1000 of {what}; they are likely {likely}"
    return None


def _within(reach_x: float, reach_y: float, width: float, height: float) -> bool:
    return reach_x <= width * (1 + OVERSHOOT) + 2 and reach_y <= height * (1 + OVERSHOOT) + 2


def pixel_span(lo: float, hi: float, limit: int) -> tuple[int, int]:
    """Indices i in [0, limit) whose pixel centre i + 0.5 lies in [lo, hi): the pixels a box covers."""
    start = min(max(math.ceil(lo - 0.5), 0), limit)
    stop = min(max(math.ceil(hi - 0.5), 0), limit)
    return start, max(start, stop)


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


def box_space_setting(box_space: str | None, input_size: str | None, settings: "Settings") -> str | None:
    """The box space asked for, as given: ``--box-space``, else ``--input-size`` (its old name), else the
    config's ``box_space`` or ``input_size``; None when none is given (each reader's own default). It is
    checked here, so that a bad one is reported under the name the user gave it."""
    if box_space and input_size and box_space.strip().lower() != input_size.strip().lower():
        raise ConfigError(f"--box-space {preview(box_space)} and --input-size {preview(input_size)} (its old name) disagree;"
                          " give only --box-space")
    sources = (("--box-space", box_space), ("--input-size", input_size),
               ("box_space", settings.box_space), ("input_size", settings.input_size))
    for where, value in sources:
        if value is not None and str(value).strip():
            try:
                parse_box_space(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            return str(value).strip()
    return None
