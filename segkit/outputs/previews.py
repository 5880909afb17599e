"""The page's view of one image, made in the per-image stage from what is already in memory.

Per image, ``OUT/html/img/<key>.jpg`` (``OutputLayout.preview_path``): the original scaled so that its
longer side is at most ``viz.preview_side``; and, in the image record's ``preview`` field, every mask at
that scale, cut to its extent as the panels cut theirs (``panels.to_panel``) and run-length encoded
(``encode_runs``). The page's script draws the overlays, the disagreement and the thumbnails from these,
so nothing after the run reopens an image or decodes a full-size mask. `segkit eval` adds the ground
truth at the same scale (``geometry_of``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from segkit.outputs.files import write_jpeg
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import Placed
from segkit.outputs.mask_set import extent
from segkit.outputs.panels import Downscaled, PanelGeometry, to_panel
from segkit.outputs.records import Preview, PreviewMask

JPEG_QUALITY = 82
# One character per 5-bit digit of a run length; +32 (the second half) means "another digit follows".
RUN_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_DIGIT = np.frombuffer(RUN_DIGITS.encode("ascii"), np.uint8)
_VALUE = np.full(256, 255, np.uint8)
_VALUE[_DIGIT] = np.arange(64, dtype=np.uint8)


def preview_geometry(width: int, height: int, side: int) -> PanelGeometry:
    """An image of ``width`` x ``height`` scaled down to fit ``side`` x ``side``."""
    return PanelGeometry.fit(width, height, side, side)


def geometry_of(preview: Preview, width: int, height: int) -> PanelGeometry:
    """The geometry a record's preview was made with: its longer side is the side it was made for."""
    return preview_geometry(width, height, max(preview.width, preview.height))


def encode_runs(crop: np.ndarray) -> str:
    """An (h, w) bool crop as run lengths, row after row, starting with background (a run that may be 0)
    and without the last run of background. Each run is written as 5-bit digits, lowest first, one
    character of ``RUN_DIGITS`` each: a run under 32 pixels costs one character."""
    flat = np.ascontiguousarray(crop, dtype=bool).reshape(-1).view(np.uint8)
    if not flat.any():
        return ""
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    if not flat[-1]:
        runs = runs[:-1]
    runs = runs.astype(np.int64)
    digits = max(1, -(-int(runs.max()).bit_length() // 5))
    rest = runs[:, None] >> (5 * np.arange(digits))  # (runs, digits): what is left to write at each digit
    used = np.ones(rest.shape, bool)
    used[:, 1:] = rest[:, 1:] > 0
    more = np.zeros(rest.shape, bool)
    more[:, :-1] = used[:, 1:]
    return _DIGIT[((rest & 31) | (more << 5))[used]].tobytes().decode("ascii")


def decode_runs(counts: str, width: int, height: int) -> np.ndarray:
    """``encode_runs`` read back: the (height, width) bool crop. ValueError for what it did not write."""
    values = _VALUE[np.frombuffer(counts.encode("ascii", "replace"), np.uint8)].astype(np.int64)
    out = np.zeros(width * height, np.int8)
    if values.size:
        if (values == 255).any() or values[-1] >= 32:
            raise ValueError("not a run-length string of segkit's previews")
        last = values < 32  # the last digit of each run
        run_of = np.concatenate(([0], np.cumsum(last)[:-1]))
        first = np.flatnonzero(np.concatenate(([True], last[:-1])))
        runs = np.zeros(len(first), np.int64)
        np.add.at(runs, run_of, (values & 31) << (5 * (np.arange(len(values)) - first[run_of])))
        ends = np.cumsum(runs)
        if ends[-1] > out.size:
            raise ValueError(f"runs cover {ends[-1]} pixels, the crop has {out.size}")
        delta = np.zeros(out.size + 1, np.int8)
        np.add.at(delta, ends[0::2], 1)  # foreground runs start where background runs end ...
        np.add.at(delta, ends[1::2], -1)  # ... and end where the next background starts
        out = np.cumsum(delta[:-1], dtype=np.int8)
    return out.reshape(height, width).astype(bool)


def placed_mask(placed: Placed | None) -> PreviewMask | None:
    """A crop at preview scale as the record keeps it; None for an empty one."""
    if placed is None or not placed.crop.any():
        return None
    h, w = placed.crop.shape
    return (int(placed.x), int(placed.y), int(w), int(h), encode_runs(placed.crop))


def preview_mask(mask: np.ndarray, bbox_xywh: tuple[int, int, int, int] | None, geometry: PanelGeometry) -> PreviewMask | None:
    """A full-resolution (H, W) mask at preview scale, from its extent (computed when not given)."""
    return placed_mask(to_panel(mask, bbox_xywh if bbox_xywh is not None else extent(mask), geometry))


def write_preview(
    layout: OutputLayout,
    stem: str,
    rgb: np.ndarray | Downscaled | None,
    size: tuple[int, int],
    side: int,
    masks: Mapping[str, Mapping[int, PreviewMask]],
) -> Preview:
    """The image's picture (``html/img/<key>.jpg``) and its masks at preview scale, as its record keeps them.

    Without ``rgb`` (a compare that did not read the originals) an existing picture of the same size is
    kept; with none, the page draws the masks on grey. ``rgb`` may be the image's ``Downscaled`` (the panel's
    column, already made, is then shrunk further instead of the original). A picture that cannot be written (html/ read-only)
    is left out the same way: the page is not worth failing the image for."""
    width, height = size
    geometry = preview_geometry(width, height, side)
    path = layout.preview_path(stem)
    file = None
    scaled = rgb if isinstance(rgb, Downscaled) or rgb is None else Downscaled(rgb)
    if scaled is not None and scaled.rgb.shape[:2] == (height, width):
        small = scaled.to(geometry.size)
        try:
            write_jpeg(path, small, JPEG_QUALITY)
            file = layout.relative(path)
        except OSError:
            file = None
    elif _picture_of_size(path, geometry.size):
        file = layout.relative(path)
    return Preview(file=file, width=geometry.size[0], height=geometry.size[1],
                   masks={name: dict(by_id) for name, by_id in masks.items()})


def _picture_of_size(path: Path, size: tuple[int, int]) -> bool:
    if not isinstance(path, Path) or not path.is_file():  # an object store: the run always has the image
        return False
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:  # reads the header only
            return picture.size == size
    except (OSError, UnidentifiedImageError):
        return False
