"""Mask AP, AP50 and AP75 by pycocotools' COCOeval ("segm"), overall and per category.

The ground truth of the scored images and each backend's masks (every detection, matched or not) are
handed to COCOeval in memory as compressed RLE. A detection's score is the backend's mask score times
the detector's confidence (1.0 when the detector gave none). Class-agnostic evaluation turns
COCOeval's ``useCats`` off; with a label map each detection carries the category its label maps to.
AP is COCO's: mean precision over IoU thresholds 0.50:0.95 and 101 recall points, area "all", at most
max(100, most detections in an image) detections per image.
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from segkit.outputs.mask_set import encode_mask


@dataclass
class ApScores:
    ap: float | None
    ap50: float | None
    ap75: float | None
    per_category: dict[str, "ApScores"] = field(default_factory=dict)

    @classmethod
    def none(cls) -> "ApScores":
        return cls(None, None, None)


def rle_of(mask: np.ndarray) -> dict[str, Any]:
    """One (H, W) mask as compressed RLE (counts as bytes, as pycocotools takes it in memory)."""
    rle = encode_mask(mask)
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}


class ApCollector:
    """Collects ground truth and scored masks image by image (from any thread), then runs COCOeval."""

    def __init__(self, class_aware: bool, categories: Sequence[str] | None):
        self.class_aware = class_aware
        self.category_ids = {name: i for i, name in enumerate(sorted(categories or []), start=1)}
        self._lock = threading.Lock()
        self._images: list[dict[str, Any]] = []
        self._gt: list[dict[str, Any]] = []
        self._dt: dict[str, list[dict[str, Any]]] = {}
        self._most = 0

    def _category_id(self, category: str | None) -> int:
        return self.category_ids.get(category, 0) if self.class_aware else 1

    def add_image(self, size: tuple[int, int], gt: Sequence[tuple[np.ndarray, str | None, bool]],
                  dets: dict[str, Sequence[tuple[np.ndarray, float, str | None]]]) -> None:
        """One image: its ground truth as (mask, category, crowd), and per scorer its detections as (mask, score, category)."""
        gt_rles = [(rle_of(m), self._category_id(c), crowd) for m, c, crowd in gt]
        dt_rles = {name: [(rle_of(m), float(s), self._category_id(c)) for m, s, c in items] for name, items in dets.items()}
        with self._lock:
            image_id = len(self._images) + 1
            self._images.append({"id": image_id, "width": size[0], "height": size[1]})
            for rle, category_id, crowd in gt_rles:
                self._gt.append({"id": len(self._gt) + 1, "image_id": image_id, "category_id": category_id, "segmentation": rle,
                                 "area": float(_area(rle)), "iscrowd": int(crowd)})
            for name, items in dt_rles.items():
                self._dt.setdefault(name, []).extend(
                    {"image_id": image_id, "category_id": c, "segmentation": rle, "score": s} for rle, s, c in items)
                self._most = max(self._most, len(items))

    def scores(self, name: str) -> ApScores:
        """AP of one scorer's masks; None values when there is no ground-truth instance to find."""
        if not any(not g["iscrowd"] for g in self._gt):
            return ApScores.none()
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        detections = [dict(d) for d in self._dt.get(name, [])]
        categories = [{"id": i, "name": n} for n, i in self.category_ids.items()] if self.class_aware else [{"id": 1, "name": "object"}]
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            gt = COCO()
            gt.dataset = {"images": list(self._images), "annotations": [dict(g) for g in self._gt], "categories": categories}
            gt.createIndex()
            if not detections:
                return ApScores(0.0, 0.0, 0.0, {n: ApScores(0.0, 0.0, 0.0) for n in self._present_categories()})
            dt = gt.loadRes(detections)
            evaluation = COCOeval(gt, dt, "segm")
            evaluation.params.useCats = int(self.class_aware)
            evaluation.params.maxDets = [1, 10, max(100, self._most)]
            evaluation.evaluate()
            evaluation.accumulate()
        precision = evaluation.eval["precision"]  # [IoU threshold, recall, category, area range, max dets]
        thresholds = evaluation.params.iouThrs
        out = _summary(precision, thresholds, slice(None))
        if self.class_aware:
            for k, category_id in enumerate(evaluation.params.catIds):
                name_k = next(n for n, i in self.category_ids.items() if i == category_id)
                if name_k in self._present_categories():
                    out.per_category[name_k] = _summary(precision, thresholds, k)
        return out

    def _present_categories(self) -> set[str]:
        ids = {g["category_id"] for g in self._gt if not g["iscrowd"]}
        return {n for n, i in self.category_ids.items() if i in ids}


def _area(rle: dict[str, Any]) -> int:
    from pycocotools import mask as mask_utils

    return int(mask_utils.area(rle))


def _summary(precision: np.ndarray, thresholds: np.ndarray, category: Any) -> ApScores:
    """AP, AP50, AP75 as COCOeval.summarize computes them (area 'all', the largest max-dets setting)."""

    def mean(values: np.ndarray) -> float | None:
        values = values[values > -1]
        return float(np.mean(values)) if values.size else None

    at = {t: int(np.argmin(np.abs(thresholds - t))) for t in (0.5, 0.75)}
    return ApScores(
        mean(precision[:, :, category, 0, -1]),
        mean(precision[at[0.5], :, category, 0, -1]),
        mean(precision[at[0.75], :, category, 0, -1]),
    )
