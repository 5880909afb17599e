"""One backend's masks for one image, kept compact: each mask cut to its extent and run-length encoded.

A backend returns full-resolution (N, H, W) masks; segkit compacts them as soon as they arrive, so what
an image holds while it waits for its other backends, its panel and its records grows with the masks'
extents, not with N x H x W. Each mask is stored as its bounding box and the crop inside it, bit-packed
(numpy ``packbits``: one bit per pixel), cropped to its box as supervision's ``CompactMask`` does:
packing a crop costs its area, not the image's, and unpacking it for an IoU or a panel is as cheap.
Full-image COCO RLE (pycocotools: ``--mask-format rle``, ``--coco``) is made only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import cv2
import numpy as np


def _encode(array: np.ndarray) -> dict[str, Any]:
    """pycocotools RLE of an (h, w) bool array."""
    from pycocotools import mask as mask_utils

    # RLE runs down columns: the transposed C-order copy is the column-major layout pycocotools wants,
    # and cv2.transpose makes it three times faster than np.asfortranarray.
    column_major = cv2.transpose(np.ascontiguousarray(array).view(np.uint8)).T[:, :, None]
    return mask_utils.encode(column_major)[0]


def _decode(rle: Mapping[str, Any]) -> np.ndarray:
    """pycocotools RLE (``counts`` bytes or str) back to an (h, w) bool C-contiguous array."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    raw = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    decoded = mask_utils.decode(raw)  # (h, w) uint8, column-major
    return cv2.transpose(np.ascontiguousarray(decoded.T)).view(bool)


def encode_placed(crop: np.ndarray, x: int, y: int, height: int, width: int) -> dict[str, Any]:
    """The full-image COCO RLE of a mask given as its crop at (x, y), without making the full mask.

    pycocotools' encoder scans every pixel of the image holding the GIL (about 1 ms for 1280x960),
    which stalls a thread waiting to feed the model. The runs outside the crop's columns are known
    (all background), so only the crop's columns are scanned, by numpy; pycocotools compresses the
    run lengths (``frPyObjects``), which is the COCO string format."""
    from pycocotools import mask as mask_utils

    h, w = crop.shape
    before, after = x * height, (width - x - w) * height
    if not crop.any():
        return mask_utils.frPyObjects({"size": [height, width], "counts": [height * width]}, height, width)
    strip = np.zeros((w, height), dtype=np.uint8)  # the crop's columns, column-major: one row per column
    strip[:, y : y + h] = crop.T
    flat = strip.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
    if flat[0]:  # COCO counts start with background
        runs.insert(0, 0)
    runs[0] += before
    if not flat[-1]:
        runs[-1] += after
    elif after:
        runs.append(after)
    return mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """A full (H, W) bool mask as pycocotools' compressed RLE (``counts`` as bytes)."""
    return _encode(mask)


def decode_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Full-image RLE (``counts`` as bytes or str) back to an (H, W) bool mask."""
    return _decode(rle)


def rle_to_json(rle: Mapping[str, Any]) -> dict[str, Any]:
    """RLE for JSON: ``{"size": [h, w], "counts": str}``, as COCO files write it."""
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box of a mask's pixels: x, y, width, height; zeros when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return 0, 0, 0, 0
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


class CompactMask(NamedTuple):
    """One mask: its extent (x, y, w, h), its pixel count, and the crop's rows bit-packed (None when empty)."""

    box: tuple[int, int, int, int]
    area: int
    packed: np.ndarray | None

    def crop(self) -> np.ndarray:
        """The (h, w) bool crop."""
        if self.packed is None:
            return np.zeros((0, 0), bool)
        return np.unpackbits(self.packed, axis=1, count=self.box[2]).view(bool)


@dataclass
class MaskSet:
    """Masks of one backend for one image, in detection order."""

    height: int
    width: int
    masks: list[CompactMask] = field(default_factory=list)
    full_rles: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> full-image RLE, when made

    @classmethod
    def empty(cls, height: int, width: int) -> "MaskSet":
        return cls(height, width)

    @classmethod
    def from_dense(cls, masks: np.ndarray, full_rle: bool = False) -> "MaskSet":
        """From (N, H, W) bool masks."""
        out = cls(int(masks.shape[1]), int(masks.shape[2]))
        for mask in masks:
            out.add(mask, full_rle)
        return out

    @classmethod
    def from_rles(cls, height: int, width: int, rles: Iterable[Mapping[str, Any]]) -> "MaskSet":
        """From full-image COCO RLE (as ``--mask-format rle`` records hold them)."""
        out = cls(height, width)
        for rle in rles:
            size = [int(v) for v in rle["size"]]
            if size != [height, width]:
                raise ValueError(f"an RLE mask is {size[1]}x{size[0]}, the image {width}x{height}")
            out.add(_decode(rle))
        return out

    def add(self, mask: np.ndarray, full_rle: bool = False) -> int:
        """Add an (H, W) bool mask; with ``full_rle`` also keep its full-image RLE. Returns its index."""
        x, y, w, h = box = extent(mask)
        crop = mask[y : y + h, x : x + w]
        area = int(np.count_nonzero(crop))
        self.masks.append(CompactMask(box, area, np.packbits(crop, axis=1) if area else None))
        index = len(self.masks) - 1
        if full_rle:
            self.full_rles[index] = encode_placed(crop, x, y, self.height, self.width)
        return index

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def areas(self) -> list[int]:
        return [m.area for m in self.masks]

    def dense(self, index: int) -> np.ndarray:
        """The full (H, W) bool mask."""
        out = np.zeros((self.height, self.width), dtype=bool)
        item = self.masks[index]
        if item.packed is not None:
            x, y, w, h = item.box
            out[y : y + h, x : x + w] = item.crop()
        return out

    def bbox_xywh(self, index: int) -> tuple[int, int, int, int]:
        """The mask's own extent (not its prompt box): x, y, width, height in pixels; zeros when empty."""
        return self.masks[index].box

    def json_rle(self, index: int) -> dict[str, Any]:
        """The full-image COCO RLE of one mask, for JSON (made from the crop if it was not kept)."""
        rle = self.full_rles.get(index)
        if rle is None:
            item = self.masks[index]
            rle = self.full_rles[index] = encode_placed(item.crop(), item.box[0], item.box[1], self.height, self.width)
        return rle_to_json(rle)

    def select(self, indices: Sequence[int]) -> "MaskSet":
        return MaskSet(self.height, self.width, [self.masks[i] for i in indices],
                       {k: self.full_rles[i] for k, i in enumerate(indices) if i in self.full_rles})


def mask_ious(a: MaskSet, b: MaskSet, pairs: Sequence[tuple[int, int]]) -> list[float]:
    """IoU of mask a[i] with b[j] for each (i, j); two empty masks agree fully (1.0), as ``masks.iou`` says.

    Only the crops' overlap is decoded and compared; the union is the two areas less the intersection."""
    out = []
    for i, j in pairs:
        ma, mb = a.masks[i], b.masks[j]
        if ma.area == 0 and mb.area == 0:
            out.append(1.0)
            continue
        (ax, ay, aw, ah), (bx, by, bw, bh) = ma.box, mb.box
        x0, y0, x1, y1 = max(ax, bx), max(ay, by), min(ax + aw, bx + bw), min(ay + ah, by + bh)
        inter = 0
        if ma.area and mb.area and x1 > x0 and y1 > y0:
            ca, cb = ma.crop(), mb.crop()
            inter = int(np.count_nonzero(ca[y0 - ay : y1 - ay, x0 - ax : x1 - ax] & cb[y0 - by : y1 - by, x0 - bx : x1 - bx]))
        out.append(inter / (ma.area + mb.area - inter))
    return out
