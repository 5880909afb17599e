"""What every ground-truth reader gives: instances (or a class map) per image, found by the image's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from segkit.errors import InputError
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


def read_id_png(path: Path) -> np.ndarray:
    """A single-channel PNG (8 or 16 bit, palette indices kept as they are) as an (H, W) integer array.

    A grey picture saved as RGB (all channels equal) is accepted; a colour picture is a GroundTruthProblem.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = image.mode
            data = np.asarray(image.convert("L") if mode == "1" else image)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise GroundTruthProblem(f"{path} cannot be read as a PNG ({exc})") from exc
    if data.ndim == 3:
        if data.shape[2] == 4:
            data = data[:, :, :3]
        if not (np.array_equal(data[:, :, 0], data[:, :, 1]) and np.array_equal(data[:, :, 0], data[:, :, 2])):
            raise GroundTruthProblem(
                f"{path} is a colour ({mode}) picture; ground-truth PNGs hold one id per pixel (save it as grey or palette)"
            )
        data = data[:, :, 0]
    return data.astype(np.int64)
