"""report.json's concept sections, from image records alone (as the rest of the agreement report).

* ``concepts``: per concept backend, and per label, how its instances met the detections: ``detections``
  (of the label, on images the backend answered), ``matched`` (of those, paired with an instance by box
  IoU), ``missed`` (not paired), ``instances`` (found with the label), ``extra`` (of those, paired with no
  detection), ``mean_score`` (of the instances) and ``mean_match_iou`` (box IoU of the pairs).
* ``concept_pairs``: per pair of backends with a concept backend in it, both sides' masks paired by
  mask IoU on every image both answered: ``matched`` pairs with their mean and median mask IoU, and what
  was left on each side (``only_a``, ``only_b``); per label, a pair and an ``only_a`` item count under side
  a's label, an ``only_b`` item under side b's. This also compares two concept backends on a run with no
  detections at all.
"""

from __future__ import annotations

from array import array
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from segkit.outputs.mask_metrics import pair_name
from segkit.outputs.records import ImageRecord

DEFINITIONS = {
    "concepts": "per concept backend (phrases or exemplar boxes in, every instance out), overall and per label: images it answered, concepts it was asked (summed over images), detections of the label on those images, matched (detections paired with one of its instances: greedy by box IoU, highest first, one-to-one, at least match_iou; an instance whose label is a detection label pairs only within that label), missed (detections not paired), instances it found with the label, extra (instances paired with no detection), mean_score of its instances, mean_match_iou (box IoU of the pairs). A paired instance is the backend's answer for that detection in pairs, labels and worst",
    "concept_pairs": "per pair of backends with a concept backend in it: on every image both answered, both sides' masks paired by mask IoU (greedy, highest first, one-to-one, at least match_iou, a concept backend's side gated by label as above); matched pairs with their mean and median mask IoU, only_a and only_b (masks of one side paired with nothing: a box backend's masks by detection, a concept backend's instances); per label: pairs and only_a under side a's label, only_b under side b's",
}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class _ConceptCounts(_Doc):
    detections: int = 0
    matched: int = 0
    missed: int = 0
    instances: int = 0
    extra: int = 0
    mean_score: float | None = None
    mean_match_iou: float | None = None


class _LabelName(_Doc):
    label: str


class _BackendHead(_Doc):
    backend: str
    images: int = 0
    concepts: int = 0


# The names first, then the counts (pydantic orders fields from the last base on): report.json's key order.
class ConceptLabelStats(_ConceptCounts, _LabelName):
    pass


class ConceptStats(_ConceptCounts, _BackendHead):
    """One concept backend overall, with its rows per label."""

    labels: list[ConceptLabelStats] = Field(default_factory=list)


class ConceptPairLabel(_Doc):
    label: str
    matched: int = 0
    mean_iou: float | None = None
    median_iou: float | None = None
    only_a: int = 0
    only_b: int = 0


class ConceptPairStats(_Doc):
    """One pair with a concept backend in it overall, with its rows per label."""

    pair: str
    a: str
    b: str
    images: int = 0
    matched: int = 0
    mean_iou: float | None = None
    median_iou: float | None = None
    only_a: int = 0
    only_b: int = 0
    labels: list[ConceptPairLabel] = Field(default_factory=list)


def _r(value: float | None) -> float | None:
    return None if value is None else float(round(float(value), 6))


class _LabelValues:
    __slots__ = ("detections", "matched", "iou_sum", "instances", "extra", "score_sum")

    def __init__(self) -> None:
        self.detections = self.matched = self.instances = self.extra = 0
        self.iou_sum = self.score_sum = 0.0

    def stats(self) -> dict[str, Any]:
        return {"detections": self.detections, "matched": self.matched, "missed": self.detections - self.matched,
                "instances": self.instances, "extra": self.extra,
                "mean_score": _r(self.score_sum / self.instances) if self.instances else None,
                "mean_match_iou": _r(self.iou_sum / self.matched) if self.matched else None}


class _PairLabelValues:
    __slots__ = ("ious", "only_a", "only_b")

    def __init__(self) -> None:
        self.ious = array("d")
        self.only_a = self.only_b = 0

    def stats(self) -> dict[str, Any]:
        values = np.frombuffer(self.ious, dtype=np.float64) if len(self.ious) else np.zeros(0)
        return {"matched": len(values), "mean_iou": _r(values.mean()) if len(values) else None,
                "median_iou": _r(np.median(values)) if len(values) else None, "only_a": self.only_a, "only_b": self.only_b}


def _total(parts: Sequence[Any], cls: type) -> Any:
    """The sum of per-label values (means recomputed from the sums)."""
    total = cls()
    for part in parts:
        for slot in cls.__slots__:
            value = getattr(part, slot)
            if isinstance(value, array):
                getattr(total, slot).extend(value)
            else:
                setattr(total, slot, getattr(total, slot) + value)
    return total


class ConceptTally:
    """The concept sections, built one image record at a time (any order), for ``backends`` in report order."""

    def __init__(self, backends: Sequence[str], pairs: Sequence[tuple[str, str]]):
        self.backends = list(backends)
        self.pairs = list(pairs)
        self.images: dict[str, int] = {}
        self.concepts: dict[str, int] = {}
        self.by_label: dict[str, dict[str, _LabelValues]] = {}
        self.pair_images: dict[tuple[str, str], int] = {}
        self.pair_labels: dict[tuple[str, str], dict[str, _PairLabelValues]] = {}

    def add(self, record: ImageRecord) -> None:
        for name in self.backends:
            if name in record.concepts and name in record.backends and name not in record.failed_backends:
                self._add_backend(record, name)
        for pairs in record.instance_pairs.values():
            key, swapped = (pairs.a, pairs.b), False
            if key not in self.pairs and (pairs.b, pairs.a) in self.pairs:
                key, swapped = (pairs.b, pairs.a), True
            if key not in self.pairs:
                continue
            labels_a, labels_b = self._labels(record, pairs.a), self._labels(record, pairs.b)
            matched = [(m.a, m.b, m.iou) for m in pairs.matched]
            only_a, only_b = pairs.only_a, pairs.only_b
            if swapped:
                labels_a, labels_b = labels_b, labels_a
                matched, only_a, only_b = [(b, a, v) for a, b, v in matched], only_b, only_a
            self.pair_images[key] = self.pair_images.get(key, 0) + 1
            rows = self.pair_labels.setdefault(key, {})
            for a, _, value in matched:
                rows.setdefault(labels_a.get(a, ""), _PairLabelValues()).ious.append(value)
            for a in only_a:
                rows.setdefault(labels_a.get(a, ""), _PairLabelValues()).only_a += 1
            for b in only_b:
                rows.setdefault(labels_b.get(b, ""), _PairLabelValues()).only_b += 1

    def _add_backend(self, record: ImageRecord, name: str) -> None:
        self.images[name] = self.images.get(name, 0) + 1
        self.concepts[name] = self.concepts.get(name, 0) + len(record.concepts[name])
        rows = self.by_label.setdefault(name, {})
        for concept in record.concepts[name]:
            rows.setdefault(concept.label, _LabelValues())  # a concept asked and never found still gets its row
        instances = record.instances.get(name, [])
        paired = {inst.detection: inst.match_iou or 0.0 for inst in instances if inst.detection is not None}
        for det in record.detections:
            values = rows.setdefault(det.label, _LabelValues())
            values.detections += 1
            if det.id in paired:
                values.matched += 1
                values.iou_sum += paired[det.id]
        for inst in instances:
            values = rows.setdefault(inst.label, _LabelValues())
            values.instances += 1
            values.score_sum += inst.score
            values.extra += inst.detection is None

    @staticmethod
    def _labels(record: ImageRecord, backend: str) -> dict[int, str]:
        """Item id -> label on one side: a concept backend's instances, else the detections."""
        if backend in record.concepts:
            return record.instance_labels(backend)
        return {det.id: det.label for det in record.detections}

    def concept_stats(self) -> list[ConceptStats]:
        out = []
        for name in self.backends:
            if name not in self.by_label:
                continue
            rows = self.by_label[name]
            labels = [ConceptLabelStats(label=label, **rows[label].stats()) for label in sorted(rows)]
            out.append(ConceptStats(backend=name, images=self.images.get(name, 0), concepts=self.concepts.get(name, 0),
                                    labels=labels, **_total(list(rows.values()), _LabelValues).stats()))
        return out

    def pair_stats(self) -> list[ConceptPairStats]:
        out = []
        for a, b in self.pairs:
            if (a, b) not in self.pair_images:
                continue
            rows = self.pair_labels.get((a, b), {})
            labels = [ConceptPairLabel(label=label, **rows[label].stats()) for label in sorted(rows)]
            out.append(ConceptPairStats(pair=pair_name(a, b), a=a, b=b, images=self.pair_images[(a, b)], labels=labels,
                                        **_total(list(rows.values()), _PairLabelValues).stats()))
        return out
