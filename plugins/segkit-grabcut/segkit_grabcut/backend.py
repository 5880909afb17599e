"""The ``grabcut`` backend: OpenCV's GrabCut initialised from each box.

For each box: take a window around it (the box plus a margin of background), shrink the window when
its longer side exceeds ``max_side``, initialise GrabCut with the box as its rectangle (everything
outside it is background), iterate until the labels settle or ``iterations`` is reached, then scale
the foreground back up and paste it at full resolution, clipped to the box.

Written against segkit's public API only, as any third-party plugin would be.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

import segkit

# A margin never thinner than this, so small boxes still see enough background to learn its colours.
MIN_MARGIN_PX = 8
# Boxes smaller than this (in working pixels) hold too few pixels for two 5-component colour models:
# they come back filled, with score 0.
MIN_BOX_SIDE = 4
MIN_BOX_AREA = 64
# Below this many pixels of background around the box (a box that covers the whole image), a thin
# frame just inside the box is marked "probably background" so the background model has samples.
MIN_BACKGROUND_PX = 64
# The score is measured on at most this many pixels of the box (a regular subsample).
SCORE_SAMPLES = 16384
# GrabCut's premise is that the box frames its object. A mask filling less of its box than this
# contradicts it (typically a cut that lost the object), and its score is scaled down in proportion.
PLAUSIBLE_FILL = 0.1
GMM_COMPONENTS = 5  # OpenCV's GrabCut uses 5 Gaussians per colour model, 13 numbers each


class GrabCutOptions(BaseModel):
    """Options of the ``grabcut`` backend: ``options.grabcut`` in the config, ``SEGKIT_GRABCUT_<FIELD>``,
    or ``-O grabcut.<field>=VALUE``."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(5, ge=1, le=50, description="most GrabCut iterations per box")
    tolerance: float = Field(
        0.001, ge=0.0, lt=1.0,
        description="stop early once an iteration changes fewer than this fraction of the box's pixels (0: always run every iteration)",
    )
    margin: float = Field(
        0.1, ge=0.0, le=2.0,
        description=f"background around each box that GrabCut sees, as a fraction of the box's longer side (at least {MIN_MARGIN_PX} px)",
    )
    max_side: int = Field(
        384, ge=0,
        description="shrink a box's window to this many pixels on its longer side before GrabCut (0: never shrink)",
    )
    threads: int = Field(
        1, ge=0, le=64,
        description="boxes segmented at once (0: min(4, CPU cores)); OpenCV releases the GIL, so more threads use more cores",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="OpenCV RNG seed, set before every box")

    @field_validator("max_side")
    @classmethod
    def _max_side_is_usable(cls, value: int) -> int:
        if 0 < value < 32:
            raise ValueError("must be 0 (never shrink) or at least 32")
        return value


@dataclass(frozen=True)
class BoxResult:
    """One box's answer: the mask inside the box (rows y0:y1, columns x0:x1 of the image), its score,
    and how many GrabCut iterations it took."""

    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray  # (y1 - y0, x1 - x0) bool
    score: float
    iterations: int


def box_pixels(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels a box covers, as integer xyxy (end-exclusive), clipped to the image.

    A pixel is in the box when its centre (x + 0.5, y + 0.5) is, the convention of segkit's mock
    backends, so a GrabCut mask never leaves the box that ``mock`` fills.
    """
    x1, y1, x2, y2 = (float(v) for v in box)

    def edge(v: float, hi: int) -> int:
        return int(min(max(math.ceil(v - 0.5), 0), hi))

    return edge(x1, width), edge(y1, height), edge(x2, width), edge(y2, height)


def segment_box(cv2: Any, image: np.ndarray, box: np.ndarray, options: GrabCutOptions) -> BoxResult:
    """GrabCut on one box of an (H, W, 3) uint8 image."""
    height, width = image.shape[:2]
    bx0, by0, bx1, by1 = box_pixels(box, width, height)
    bw, bh = bx1 - bx0, by1 - by0
    if bw <= 0 or bh <= 0:
        return BoxResult(bx0, by0, max(bx0, bx1), max(by0, by1), np.zeros((max(bh, 0), max(bw, 0)), bool), 0.0, 0)

    pad = max(MIN_MARGIN_PX, int(round(options.margin * max(bw, bh))))
    x0, y0, x1, y1 = max(0, bx0 - pad), max(0, by0 - pad), min(width, bx1 + pad), min(height, by1 + pad)
    crop = image[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    scale = 1.0
    if options.max_side and max(ch, cw) > options.max_side:
        scale = options.max_side / max(ch, cw)
    if scale < 1.0:
        ww, wh = max(1, round(cw * scale)), max(1, round(ch * scale))
        work = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_AREA)
    else:
        ww, wh = cw, ch
        work = np.ascontiguousarray(crop)
    sx, sy = ww / cw, wh / ch
    rx0, ry0 = min(int(round((bx0 - x0) * sx)), ww - 1), min(int(round((by0 - y0) * sy)), wh - 1)
    rx1, ry1 = max(int(round((bx1 - x0) * sx)), rx0 + 1), max(int(round((by1 - y0) * sy)), ry0 + 1)
    rw, rh = rx1 - rx0, ry1 - ry0

    if min(rw, rh) < MIN_BOX_SIDE or rw * rh < MIN_BOX_AREA:
        return BoxResult(bx0, by0, bx1, by1, np.ones((bh, bw), bool), 0.0, 0)

    mask = np.zeros((wh, ww), np.uint8)
    bgd_model = np.zeros((1, 13 * GMM_COMPONENTS), np.float64)
    fgd_model = np.zeros((1, 13 * GMM_COMPONENTS), np.float64)
    cv2.setRNGSeed(options.seed)  # GMM initialisation uses OpenCV's (per-thread) RNG: same seed, same masks
    if ww * wh - rw * rh >= MIN_BACKGROUND_PX:
        cv2.grabCut(work, mask, (rx0, ry0, rw, rh), bgd_model, fgd_model, 0, cv2.GC_INIT_WITH_RECT)
    else:
        mask[ry0:ry1, rx0:rx1] = cv2.GC_PR_BGD
        t = min(max(1, int(round(0.05 * min(rw, rh)))), (min(rw, rh) - 2) // 2)
        mask[ry0 + t:ry1 - t, rx0 + t:rx1 - t] = cv2.GC_PR_FGD
        cv2.grabCut(work, mask, None, bgd_model, fgd_model, 0, cv2.GC_INIT_WITH_MASK)

    # One iteration per call: k calls with GC_EVAL are exactly one call with k iterations (the models
    # carry over in bgd_model/fgd_model), and in between we can see whether the labels still move.
    inside = (slice(ry0, ry1), slice(rx0, rx1))
    previous = (mask[inside] & 1).astype(bool)  # GC_FGD = 1, GC_PR_FGD = 3: foreground labels are odd
    settled = options.tolerance * rw * rh
    done = 0
    for done in range(1, options.iterations + 1):
        cv2.grabCut(work, mask, None, bgd_model, fgd_model, 1, cv2.GC_EVAL)
        current = (mask[inside] & 1).astype(bool)
        changed = np.count_nonzero(current != previous)
        previous = current
        if changed < settled:
            break

    foreground = previous
    fill = np.count_nonzero(foreground) / foreground.size
    score = colour_separation(work[inside], foreground, bgd_model, fgd_model) * min(1.0, fill / PLAUSIBLE_FILL)
    if scale < 1.0:
        full = np.zeros((wh, ww), np.uint8)
        full[inside] = foreground.astype(np.uint8) * 255
        up = cv2.resize(full, (cw, ch), interpolation=cv2.INTER_LINEAR)
        region = up[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] >= 128
    else:
        region = foreground  # the working window is the crop itself, and the box lies at the same place
    return BoxResult(bx0, by0, bx1, by1, np.ascontiguousarray(region), score, done)


def gmm_log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """log p(colour) under one of GrabCut's colour models, up to a constant shared by both models.

    ``model`` is OpenCV's (1, 65) layout: 5 weights, 5 means (3 each), 5 covariances (3 x 3 each).
    """
    m = np.asarray(model, np.float64).reshape(-1)
    k = GMM_COMPONENTS
    weights, means, covs = m[:k], m[k:4 * k].reshape(k, 3), m[4 * k:13 * k].reshape(k, 3, 3)
    parts = []
    for w, mu, cov in zip(weights, means, covs):
        if w <= 0:
            continue
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            continue
        d = pixels - mu
        maha = np.einsum("pi,ij,pj->p", d, np.linalg.inv(cov), d)
        parts.append(math.log(w) - 0.5 * logdet - 0.5 * maha)
    if not parts:
        return np.full(len(pixels), -np.inf)
    stacked = np.stack(parts)
    top = stacked.max(axis=0)
    return top + np.log(np.exp(stacked - top).sum(axis=0))


def colour_separation(pixels: np.ndarray, foreground: np.ndarray, bgd_model: np.ndarray, fgd_model: np.ndarray) -> float:
    """How well GrabCut's own colour models explain the labels it gave the box's pixels, 0..1.

    For each pixel of the box, the probability its colour gives to the label GrabCut chose (equal
    priors, foreground model against background model), averaged and rescaled so that 0 means the
    colours say nothing (a coin toss, the cut rests on smoothness alone) and 1 means every pixel's
    colour clearly belongs to its side. An empty mask scores 0. It is not a calibrated probability that
    the mask is right: a box around two similar-coloured objects can score high and keep both.
    The backend's score is this, scaled down when the mask fills under PLAUSIBLE_FILL of its box.
    """
    if not foreground.any():
        return 0.0
    stride = max(1, math.ceil(math.sqrt(foreground.size / SCORE_SAMPLES)))
    colours = pixels[::stride, ::stride].reshape(-1, 3).astype(np.float64)
    labels = foreground[::stride, ::stride].reshape(-1)
    with np.errstate(invalid="ignore", over="ignore"):
        margin = gmm_log_likelihood(fgd_model, colours) - gmm_log_likelihood(bgd_model, colours)
        margin = np.where(labels, margin, -margin)
        agree = 0.5 * (1.0 + np.tanh(np.nan_to_num(margin, nan=0.0) / 2.0))  # logistic, overflow-free
    return float(np.clip(2.0 * agree.mean() - 1.0, 0.0, 1.0))


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


class GrabCutSegmenter(segkit.Segmenter):
    """OpenCV GrabCut from each box: no weights, CPU only."""

    options_key = "grabcut"
    Options = GrabCutOptions

    def __init__(self, name: str, options: GrabCutOptions | None = None, **params: Any):
        super().__init__(name, options, **params)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._cv2: Any = None

    @property
    def threads(self) -> int:
        """Threads used for the boxes of one image (results do not depend on it)."""
        return self.options.threads or min(4, os.cpu_count() or 1)

    def check_ready(self) -> segkit.Readiness:
        try:
            import cv2  # segkit's CLI has already imported it, so this costs nothing there
        except ImportError as exc:
            return segkit.Readiness.missing(
                f"OpenCV cannot be imported ({exc}); pip install opencv-python"
                " (opencv-python-headless on a server without libGL)"
            )
        if not hasattr(cv2, "grabCut"):
            return segkit.Readiness.missing(f"this OpenCV build ({cv2.__version__}) has no grabCut; pip install opencv-python")
        return segkit.Readiness.ok(f"OpenCV {cv2.__version__}, needs no weights")

    def load(self) -> None:
        self._opencv()

    def _opencv(self) -> Any:
        if self._cv2 is None:
            try:
                import cv2
            except ImportError as exc:
                raise segkit.BackendFatalError(f"grabcut: OpenCV cannot be imported ({exc}); pip install opencv-python") from exc
            self._cv2 = cv2
        return self._cv2

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="grabcut")
            return self._pool

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> segkit.Segmentation:
        cv2 = self._opencv()
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise segkit.ImageFailed(f"grabcut needs an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        image = np.ascontiguousarray(image)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all():
            bad = int(np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0])
            raise segkit.ImageFailed(f"grabcut: box {bad} {boxes[bad].tolist()} is not finite pixel xyxy")
        height, width = image.shape[:2]

        def one(i: int) -> BoxResult:
            try:
                return segment_box(cv2, image, boxes[i], self.options)
            except cv2.error as exc:
                raise segkit.ImageFailed(f"grabcut failed on box {i} {boxes[i].round(1).tolist()}: {_one_line(exc)}") from exc

        indices = range(len(boxes))
        if self.threads > 1 and len(boxes) > 1:
            results = list(self._executor().map(one, indices))
        else:
            results = [one(i) for i in indices]

        masks = np.zeros((len(boxes), height, width), dtype=bool)
        scores = np.zeros(len(boxes), dtype=np.float64)
        for i, r in enumerate(results):
            masks[i, r.y0:r.y1, r.x0:r.x1] = r.mask
            scores[i] = r.score
        return segkit.Segmentation(masks=masks, scores=scores)

    def settings(self) -> dict[str, Any]:
        out = self.options.model_dump()
        out["threads"] = self.threads
        if self._cv2 is not None:
            out["opencv"] = self._cv2.__version__
        return out

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
