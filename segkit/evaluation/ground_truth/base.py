"""What every ground-truth reader gives: instances (or a class map) per image, found by the image's name.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from segkit.config import LimitSettings
from segkit.errors import InputError, SegkitError, one_line
from segkit.input_files import GROUND_TRUTH_FILE, read_limited
from segkit.outputs.mask_set import extent


class GroundTruthCoversNothing(InputError):
    """The ground truth has none of the images to score."""


class GroundTruthProblem(Exception):
    """The ground truth of one image cannot be used (bad polygon, wrong size): that image is skipped."""


@dataclass
class GtInstance:
    """One ground-truth object: its id in the source, its category (None: the source has none), its mask."""

    gt_id: int
    category: str | None
    mask: np.ndarray  # (H, W) bool
    crowd: bool = False  # COCO iscrowd: takes part in AP as COCOeval treats crowds, never matched

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The mask's extent as pixel-edge xyxy (pixel i spans [i, i + 1]), like detection boxes."""
        x, y, w, h = extent(self.mask)
        return (float(x), float(y), float(x + w), float(y + h))


@dataclass
class GtImage:
    """The ground truth of one image: instances, or (semantic) a class id per pixel."""

    source: str  # where it came from, for messages: "ground_truth.json image 3", "gt/a_1.png"
    instances: list[GtInstance] = field(default_factory=list)
    classes: np.ndarray | None = None  # semantic: (H, W) class ids
    class_names: dict[int, str] = field(default_factory=dict)  # semantic: id -> name
    ignore: frozenset[int] = frozenset()  # semantic: ids that are no object (background, void)

    @property
    def semantic(self) -> bool:
        return self.classes is not None

    def present_classes(self) -> list[int]:
        """Semantic: the object classes this image has, in id order."""
        assert self.classes is not None
        return [int(c) for c in np.unique(self.classes) if int(c) not in self.ignore]


class GroundTruth(Protocol):
    """What every ground-truth reader offers."""

    path: Path
    format: str
    categories: list[str] | None  # category names, or None when the source has no categories

    def has(self, image_name: str) -> bool:
        """Whether the source has ground truth for this image file name."""

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        """The ground truth of one image of (width, height); GroundTruthProblem when it cannot be used."""

    def image_count(self) -> int:
        """How many images the source has ground truth for."""

    def sample_names(self, limit: int = 3) -> list[str]:
        """A few of the image names the source has ground truth for, for messages."""


def check_size(mask_shape: tuple[int, ...], size: tuple[int, int], what: str) -> None:
    """GroundTruthProblem when a ground-truth mask is not the image's (width, height)."""
    height, width = mask_shape[:2]
    if (width, height) != tuple(size):
        raise GroundTruthProblem(
            f"{what} is {width}x{height} but the image is {size[0]}x{size[1]}; ground truth must be drawn on the image at full size"
        )


def check_image_pixels(size: tuple[int, int], limits: LimitSettings, what: str) -> None:
    """GroundTruthProblem when the image to score (as its record says) is above ``limits.max_image_pixels``:
    checked before any of its ground truth is drawn, since every mask of it is that big."""
    width, height = size
    if width < 1 or height < 1 or width * height > limits.max_image_pixels:
        raise GroundTruthProblem(
            f"{what}: the image is {width}x{height}, outside 1 .. limits.max_image_pixels ({limits.max_image_pixels}) pixels;"
            " its ground truth is not drawn (raise the limit in the config, or re-run the image)"
        )


def check_instance_count(count: int, limits: LimitSettings, what: str) -> None:
    """GroundTruthProblem when one image has more instances than ``limits.max_ground_truth_instances``:
    checked before any mask is made, since each instance is a mask of the image's size."""
    if count > limits.max_ground_truth_instances:
        raise GroundTruthProblem(
            f"{what} has {count} instances, above limits.max_ground_truth_instances ({limits.max_ground_truth_instances});"
            " the image is not scored (raise the limit in the config)"
        )


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, before any decoder sees the file; None if it is no PNG."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def read_id_png(path: Path, size: tuple[int, int], limits: LimitSettings) -> np.ndarray:
    """A single-channel PNG (8 or 16 bit, palette indices kept as they are) as an (H, W) integer array of
    the image's ``size`` (width, height).

    Read bounded: a regular file of at most ``limits.max_ground_truth_bytes``, its size checked against
    the image's from its header before it is decoded (a 30000x30000 PNG is a few KB). Pixel values keep
    their own type (uint8, uint16). A grey picture saved as RGB (all channels equal) is accepted; a colour
    picture, or one that cannot be read, is a GroundTruthProblem.
    """
    from PIL import Image

    try:
        data = read_limited(path, limits.max_ground_truth_bytes, GROUND_TRUTH_FILE)
    except SegkitError as exc:
        raise GroundTruthProblem(str(exc)) from None
    header = _png_size(data)
    if header is not None:
        check_size((header[1], header[0]), size, str(path))
    try:
        with Image.open(io.BytesIO(data)) as image:
            check_size((image.size[1], image.size[0]), size, str(path))  # any other format: before decoding
            mode = image.mode
            array = np.asarray(image.convert("L") if mode == "1" else image)
    except GroundTruthProblem:
        raise
    except Exception as exc:  # Pillow and its format plugins raise many kinds (OSError, ValueError, SyntaxError, ...)
        reason = "not an image format that can be read" if type(exc).__name__ == "UnidentifiedImageError" else one_line(exc, 200)
        raise GroundTruthProblem(f"{path} cannot be read as a PNG ({reason})") from None
    if array.ndim == 3:
        if array.shape[2] == 4:
            array = array[:, :, :3]
        if not (np.array_equal(array[:, :, 0], array[:, :, 1]) and np.array_equal(array[:, :, 0], array[:, :, 2])):
            raise GroundTruthProblem(
                f"{path} is a colour ({mode}) picture; ground-truth PNGs hold one id per pixel (save it as grey or palette)"
            )
        array = array[:, :, 0]
    if array.dtype.kind not in "iu":  # a float picture ("F"): ids are whole numbers
        raise GroundTruthProblem(f"{path} holds {array.dtype} values; ground-truth PNGs hold whole-number ids (8 or 16 bit)")
    return np.ascontiguousarray(array)


def present_ids(ids: np.ndarray) -> np.ndarray:
    """The distinct values of an id array, sorted (without making a Python object per pixel)."""
    return np.unique(ids)
