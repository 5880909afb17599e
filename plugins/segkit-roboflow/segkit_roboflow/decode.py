"""Turning the API's mask encodings into full-resolution boolean masks.

The server (roboflow/inference) encodes each mask in one of two ways:

* ``polygon`` (asked for as ``format: json``): ``cv2.findContours(mask, RETR_EXTERNAL,
  CHAIN_APPROX_SIMPLE)``, one polygon per connected region, integer pixel coordinates of the region's
  boundary pixels. Only outer contours are sent: a hole inside a region cannot be told apart from the
  region, so decoding fills it. Each polygon is filled on its own and the results are united (filling
  them in one ``cv2.fillPoly`` call, as the docs' sample does, applies an even-odd rule instead).
* ``rle``: COCO run-length encoding (``{"size": [h, w], "counts": str}``) of the whole mask, exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MaskDecodeError(ValueError):
    """A prediction's mask data is not a polygon list or a COCO RLE of the image's size."""


def decode_polygons(polygons: Any, height: int, width: int) -> np.ndarray:
    """Fill every polygon (a list of [x, y] pixel points) and unite them: an (H, W) bool mask."""
    import cv2

    if not isinstance(polygons, list):
        raise MaskDecodeError(f"polygon masks must be a list of polygons, got {type(polygons).__name__}")
    canvas = np.zeros((height, width), dtype=np.uint8)
    for index, polygon in enumerate(polygons):
        if not polygon:  # an empty mask comes as [[]]
            continue
        try:
            points = np.asarray(polygon, dtype=np.float64)
        except (TypeError, ValueError):
            raise MaskDecodeError(f"polygon {index} is not a list of [x, y] numbers") from None
        if points.ndim != 2 or points.shape[1] != 2 or not np.all(np.isfinite(points)):
            raise MaskDecodeError(f"polygon {index} is not a list of [x, y] points (shape {points.shape})")
        cv2.fillPoly(canvas, [np.rint(points).astype(np.int32).reshape(-1, 1, 2)], 1)
    return canvas.astype(bool)


def decode_rle(rle: Any, height: int, width: int) -> np.ndarray:
    """Decode a COCO RLE (compressed string counts, or a list of run lengths) of an (H, W) image."""
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise MaskDecodeError("an rle mask must be an object with 'size' and 'counts'")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2) or [int(size[0]), int(size[1])] != [height, width]:
        raise MaskDecodeError(f"rle mask has size {size} (height, width); the image is {[height, width]}")
    counts = rle["counts"]
    try:
        if isinstance(counts, list):
            encoded = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        elif isinstance(counts, str):
            encoded = {"size": [height, width], "counts": counts.encode("ascii")}
        else:
            raise MaskDecodeError(f"rle counts must be a string or a list, got {type(counts).__name__}")
        mask = mask_utils.decode(encoded)
    except MaskDecodeError:
        raise
    except Exception as exc:  # pycocotools raises bare ValueErrors and others on corrupt counts
        raise MaskDecodeError(f"rle counts cannot be decoded ({type(exc).__name__}: {exc})") from None
    if mask.shape != (height, width):
        raise MaskDecodeError(f"rle mask decodes to {mask.shape}, expected {(height, width)}")
    return mask.astype(bool)


def decode_prediction(prediction: Any, height: int, width: int, requested: str) -> np.ndarray:
    """One prediction's mask, decoded by the format the prediction declares (else by its shape)."""
    if not isinstance(prediction, dict) or "masks" not in prediction:
        raise MaskDecodeError("a prediction has no 'masks'")
    masks = prediction["masks"]
    declared = prediction.get("format") or ("rle" if isinstance(masks, dict) else "polygon")
    if declared == "rle":
        return decode_rle(masks, height, width)
    if declared in ("polygon", "json"):
        return decode_polygons(masks, height, width)
    raise MaskDecodeError(f"unknown mask format {declared!r} (asked for {requested!r})")
