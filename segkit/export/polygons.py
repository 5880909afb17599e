"""Masks as polygons: supervision traces them, and a mask in several pieces becomes ONE polygon here.

supervision (``approximate_mask_with_polygons``, what its ``as_yolo`` and ``as_coco`` use) returns one
polygon per piece of a mask, and its ``as_yolo`` writes each piece as a line of its own: a mask in two
pieces becomes two instances in the YOLO labels, which is not what the backend found. YOLO-seg has one
polygon per instance, so ``one_polygon`` joins the pieces (the way Ultralytics' own COCO converter does,
with zero-width bridges between the closest points of the pieces; written here, not copied). COCO keeps
the pieces as the several polygons of one annotation, which it allows.

A polygon cannot hold a hole: the outline is traced (RETR_EXTERNAL), so a hole is filled. Export to COCO
with RLE (the default) where holes matter. Polygons are traced on each mask's crop, not the full image:
the cost grows with the mask, not with the image.
"""

from __future__ import annotations

import numpy as np

from segkit.outputs.mask_set import CompactMask

PIECE_AREA = 0.0  # pieces are kept whatever their size (supervision's area filters are off)


def mask_polygons(mask: CompactMask, tolerance: float = 0.0) -> list[np.ndarray]:
    """The outline of each piece of a mask as (N, 2) float pixel coordinates (x, y) of the full image,
    largest piece first; simplified by Douglas-Peucker within ``tolerance`` pixels (0: every corner kept)."""
    from supervision.dataset.utils import approximate_mask_with_polygons

    if mask.packed is None:
        return []
    x, y, _, _ = mask.box
    crop = np.pad(mask.crop(), 1)  # a free border: a piece touching the crop's edge is traced whole
    polygons = approximate_mask_with_polygons(crop, min_image_area_percentage=PIECE_AREA, max_image_area_percentage=1.0,
                                              approximation_percentage=0.0)
    out = []
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if tolerance > 0 and len(points) > 3:
            import cv2

            simpler = cv2.approxPolyDP(points.astype(np.float32)[:, None, :], tolerance, True)[:, 0, :]
            points = simpler.astype(np.float64) if len(simpler) >= 3 else points
        out.append(points + (x - 1, y - 1))
    return sorted(out, key=lambda p: -_area(p))


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _closest(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> tuple[int, int]:
    """Indices (i, j) of the closest pair of points a[i], b[j]; in chunks, so two long outlines never make an
    (N, M) matrix of distances at once."""
    best, pair = np.inf, (0, 0)
    for start in range(0, len(a), chunk):
        part = a[start : start + chunk]
        d = ((part[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        k = int(np.argmin(d))
        i, j = divmod(k, d.shape[1])
        if d[i, j] < best:
            best, pair = float(d[i, j]), (start + i, j)
    return pair


def one_polygon(pieces: list[np.ndarray]) -> np.ndarray:
    """Several outlines as one closed polygon: each further piece is reached from the largest by a bridge
    to its closest point, walked round, and left by the same bridge (zero width: filling the polygon gives
    the pieces, and at most the one-pixel line of each bridge)."""
    if len(pieces) == 1:
        return pieces[0]
    main = pieces[0]
    visits: dict[int, list[np.ndarray]] = {}
    for piece in pieces[1:]:
        i, j = _closest(main, piece)
        loop = np.concatenate([np.roll(piece, -j, axis=0), piece[j : j + 1], main[i : i + 1]])
        visits.setdefault(i, []).append(loop)
    out = []
    for i, point in enumerate(main):
        out.append(point[None, :])
        out.extend(visits.get(i, []))
    return np.concatenate(out)
