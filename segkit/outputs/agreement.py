"""report.json, the agreement report: how the backends agree over every detection of every image.

Built from image records alone (``json/<stem>.json`` as a run or compare wrote it, or the same record
still in memory), never from masks: the pair IoUs and mask areas are already in the records. So a run
and a compare over the same masks give the same report. ``AgreementTally`` takes the records one at a
time as images finish (it keeps numbers, not records) and ``report()`` gives the typed document that
report.json, report.csv, the terminal tables and the page all read.
"""

from __future__ import annotations

import heapq
from array import array
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from segkit.outputs.concept_report import DEFINITIONS as CONCEPT_DEFINITIONS
from segkit.outputs.concept_report import ConceptPairStats, ConceptStats, ConceptTally
from segkit.outputs.files import write_csv, write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import backend_pairs, pair_name
from segkit.outputs.quality import FLAGS
from segkit.outputs.records import ImageRecord

REPORT_VERSION = 1
DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_WORST = 10

DEFINITIONS = {
    "iou": "intersection over union of two backends' masks for the same detection; 1.0 when both are empty",
    "p5_iou": "5th percentile of the IoUs (numpy.percentile, linear interpolation): 95% of detections agree at least this well",
    "below_threshold": "detections whose IoU is strictly below iou_threshold; fraction_below is their share",
    "area_ratio": "for pair 'a vs b', median over detections of area(b) / area(a) in pixels: 1.0 = same size, 0.8 = b's masks are 20% smaller; detections with an empty mask from a are left out (empty_a)",
    "seconds_per_image": "mean time the backend took per image, over images where it was given at least one box",
    "worst": "detections with the lowest IoU of any pair, lowest first, one entry per detection",
    "flags": "per backend, how many of its masks carry each quality flag (segkit.outputs.quality): empty (no pixel),"
             " spill (more than quality.max_spill of the mask outside its box), low_fill (covers less than"
             " quality.min_fill of its box), fragmented (more than quality.max_pieces pieces); flagged: masks with any",
}

PAIR_STATS = ("detections", "mean_iou", "median_iou", "p5_iou", "min_iou", "below_threshold", "fraction_below",
              "median_area_ratio", "empty_a", "empty_b")
BACKEND_STATS = ("images", "detections", "empty_masks", "mean_score", "seconds_per_image", "failures")
FLAG_COLUMNS = tuple(f"flag_{name}" for name in FLAGS)
CSV_HEADER = ("scope", "pair", "backend_a", "backend_b", "label", "backend", *PAIR_STATS, "iou_threshold",
              "images", "empty_masks", "mean_score", "seconds_per_image", "failures", "flagged", *FLAG_COLUMNS)
# Only a report with concept backends has these columns (and its rows of scope concept, concept_pair).
CONCEPT_COLUMNS = ("concepts", "matched", "missed", "instances", "extra", "mean_match_iou", "only_a", "only_b")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer segkit's report read by this one keeps its fields


class PairStats(_Doc):
    """IoU and area statistics of one pair's detections; None where there is nothing to measure."""

    detections: int = 0
    mean_iou: float | None = None
    median_iou: float | None = None
    p5_iou: float | None = None
    min_iou: float | None = None
    below_threshold: int = 0
    fraction_below: float | None = None
    median_area_ratio: float | None = None
    empty_a: int = 0
    empty_b: int = 0


class _PairNames(_Doc):
    pair: str
    a: str
    b: str


class _LabelPairNames(_Doc):
    label: str
    pair: str
    a: str
    b: str


# The names first, then the statistics (pydantic orders fields from the last base on): report.json's key order.
class PairEntry(PairStats, _PairNames):
    pass


class LabelEntry(PairStats, _LabelPairNames):
    pass


class BackendEntry(_Doc):
    backend: str
    images: int = 0
    detections: int = 0
    empty_masks: int = 0
    mean_score: float | None = None
    seconds_per_image: float | None = None
    failures: int = 0
    flagged: int = 0
    flags: dict[str, int] = Field(default_factory=dict)


class WorstEntry(_Doc):
    image: str
    detection: int
    label: str
    pair: str
    iou: float | None
    area_a: int
    area_b: int
    panel: str | None = None
    masks: list[str | None] = Field(default_factory=list)


class AgreementReport(_Doc):
    """report.json."""

    version: int = REPORT_VERSION
    backends: list[str] = Field(default_factory=list)
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    images: int = 0
    detections: int = 0
    pairs: list[PairEntry] = Field(default_factory=list)
    labels: list[LabelEntry] = Field(default_factory=list)
    backend_stats: list[BackendEntry] = Field(default_factory=list)
    worst: list[WorstEntry] = Field(default_factory=list)
    concepts: list[ConceptStats] = Field(default_factory=list)  # concept backends only (segkit.outputs.concept_report)
    concept_pairs: list[ConceptPairStats] = Field(default_factory=list)
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))

    @model_serializer(mode="wrap")
    def _drop_absent_concepts(self, handler):  # a run without concept backends keeps the report it always had
        data = handler(self)
        for key in ("concepts", "concept_pairs"):
            if not data.get(key):
                data.pop(key, None)
        return data

    def pair(self, name: str) -> PairEntry | None:
        return next((p for p in self.pairs if p.pair == name), None)

    def concept(self, backend: str) -> ConceptStats | None:
        return next((c for c in self.concepts if c.backend == backend), None)

    def concept_pair(self, name: str) -> ConceptPairStats | None:
        return next((p for p in self.concept_pairs if p.pair == name), None)


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else float(round(float(value), digits))


class _PairValues:
    """The numbers of one pair (or one pair and label) over detections: IoUs and area ratios."""

    __slots__ = ("ious", "ratios", "empty_a", "empty_b")

    def __init__(self) -> None:
        self.ious = array("d")
        self.ratios = array("d")
        self.empty_a = 0
        self.empty_b = 0

    def add(self, iou: float, area_a: int, area_b: int) -> None:
        self.ious.append(iou)
        if area_a > 0:
            self.ratios.append(area_b / area_a)
        self.empty_a += area_a == 0
        self.empty_b += area_b == 0

    def stats(self, threshold: float) -> dict[str, Any]:
        values = np.frombuffer(self.ious, dtype=np.float64) if len(self.ious) else np.zeros(0)
        ratios = np.frombuffer(self.ratios, dtype=np.float64) if len(self.ratios) else np.zeros(0)
        n = len(values)
        below = int(np.count_nonzero(values < threshold))
        return {
            "detections": n,
            "mean_iou": _r(values.mean()) if n else None,
            "median_iou": _r(np.median(values)) if n else None,
            "p5_iou": _r(np.percentile(values, 5)) if n else None,
            "min_iou": _r(values.min()) if n else None,
            "below_threshold": below,
            "fraction_below": _r(below / n) if n else None,
            "median_area_ratio": _r(np.median(ratios)) if len(ratios) else None,
            "empty_a": self.empty_a,
            "empty_b": self.empty_b,
        }


class _BackendValues:
    __slots__ = ("images", "detections", "empty", "score_sum", "seconds", "failures", "flagged", "flags")

    def __init__(self) -> None:
        self.images = self.detections = self.empty = self.failures = self.flagged = 0
        self.score_sum = 0.0
        self.seconds = array("d")
        self.flags = dict.fromkeys(FLAGS, 0)


class AgreementTally:
    """The agreement report, built one image record at a time (any order); memory grows with the number of
    detections (a few numbers each), not with the records."""

    def __init__(self, backends: Sequence[str], iou_threshold: float = DEFAULT_IOU_THRESHOLD, worst: int = DEFAULT_WORST):
        self.backends = list(backends)
        self.pairs = backend_pairs(self.backends)
        self.iou_threshold = iou_threshold
        self.worst = max(0, worst)
        self.images = 0
        self.detections = 0
        self.by_pair = {pair: _PairValues() for pair in self.pairs}
        self.by_label: dict[tuple[str, str, str], _PairValues] = {}
        self.by_backend = {name: _BackendValues() for name in self.backends}
        self._worst: list[tuple[tuple[float, str, int], int, dict[str, Any]]] = []  # min-heap of negated keys
        self._order = 0  # ties (the same image and detection twice, a merged folder) never compare the dicts
        self.concepts = ConceptTally(self.backends, self.pairs)

    def add(self, record: ImageRecord) -> None:
        names = self.backends
        if not any(b in record.backends or b in record.failed_backends for b in names):
            return
        self.concepts.add(record)
        self.images += 1
        if any(b in record.backends for b in names):
            self.detections += len(record.detections)
        for name in names:
            values = self.by_backend[name]
            if name in record.failed_backends:
                values.failures += 1
            if name not in record.backends:
                continue
            values.images += 1
            answered = False
            for det in record.detections:
                answer = det.backends.get(name)
                if answer is None:
                    continue
                answered = True
                values.detections += 1
                values.empty += answer.area_px == 0
                values.score_sum += answer.score
                values.flagged += bool(answer.flags)
                for flag in answer.flags:
                    if flag in values.flags:
                        values.flags[flag] += 1
            if answered or record.concepts.get(name):  # a concept backend was asked even without detections
                values.seconds.append(record.backends[name].seconds)
        for det in record.detections:
            answers = det.backends
            lowest: tuple[float, str, str] | None = None
            for a, b in self.pairs:
                if a not in answers or b not in answers:
                    continue
                value = det.pair_iou(a, b)
                if value is None:
                    continue
                value = float(value)
                area_a, area_b = answers[a].area_px, answers[b].area_px
                self.by_pair[(a, b)].add(value, area_a, area_b)
                self.by_label.setdefault((a, b, det.label), _PairValues()).add(value, area_a, area_b)
                if lowest is None or value < lowest[0]:
                    lowest = (value, a, b)
            if lowest is not None and self.worst:
                self._keep_worst(record, det, *lowest)

    def _keep_worst(self, record: ImageRecord, det: Any, value: float, a: str, b: str) -> None:
        key = (-value, _Desc(record.image), -det.id)  # the heap's top is the best of the kept: dropped first
        entry = {"image": record.image, "detection": det.id, "label": det.label, "pair": pair_name(a, b),
                 "iou": _r(value), "area_a": det.backends[a].area_px, "area_b": det.backends[b].area_px,
                 "panel": record.panel, "masks": [det.backends[a].mask, det.backends[b].mask]}
        self._order += 1
        item = (key, self._order, entry)
        if len(self._worst) < self.worst:
            heapq.heappush(self._worst, item)  # type: ignore[arg-type]
        elif key > self._worst[0][0]:
            heapq.heapreplace(self._worst, item)  # type: ignore[arg-type]

    def add_all(self, records: Iterable[ImageRecord]) -> "AgreementTally":
        for record in records:
            self.add(record)
        return self

    def report(self) -> AgreementReport:
        pairs, labels = [], []
        for a, b in self.pairs:
            pairs.append(PairEntry(pair=pair_name(a, b), a=a, b=b, **self.by_pair[(a, b)].stats(self.iou_threshold)))
            for label in sorted(label for (pa, pb, label) in self.by_label if (pa, pb) == (a, b)):
                stats = self.by_label[(a, b, label)].stats(self.iou_threshold)
                labels.append(LabelEntry(label=label, pair=pair_name(a, b), a=a, b=b, **stats))
        worst = [WorstEntry(**entry) for _, _, entry in sorted(self._worst, key=lambda item: item[:2], reverse=True)]
        concepts, concept_pairs = self.concepts.concept_stats(), self.concepts.pair_stats()
        definitions = {**DEFINITIONS, **(CONCEPT_DEFINITIONS if concepts or concept_pairs else {})}
        return AgreementReport(
            backends=self.backends, iou_threshold=self.iou_threshold, images=self.images, detections=self.detections,
            pairs=pairs, labels=labels, backend_stats=[self._backend_entry(name) for name in self.backends], worst=worst,
            concepts=concepts, concept_pairs=concept_pairs, definitions=definitions,
        )

    def _backend_entry(self, name: str) -> BackendEntry:
        v = self.by_backend[name]
        seconds = np.frombuffer(v.seconds, dtype=np.float64) if len(v.seconds) else None
        return BackendEntry(
            backend=name, images=v.images, detections=v.detections, empty_masks=v.empty,
            mean_score=_r(v.score_sum / v.detections) if v.detections else None,
            seconds_per_image=_r(seconds.mean(), 4) if seconds is not None else None,
            failures=v.failures, flagged=v.flagged, flags=dict(v.flags),
        )


class _Desc(str):
    """A string that sorts backwards (the worst list: lowest IoU first, then image name, then id)."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def build_report(records: Iterable[ImageRecord], backends: Sequence[str], iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                 worst: int = DEFAULT_WORST) -> AgreementReport:
    """The report over image records, for ``backends`` in that order (pair 'a vs b' follows it)."""
    return AgreementTally(backends, iou_threshold, worst).add_all(records).report()


def csv_header(report: AgreementReport | Mapping[str, Any]) -> tuple[str, ...]:
    """report.csv's columns: CSV_HEADER, and CONCEPT_COLUMNS when the report has concept sections."""
    if isinstance(report, BaseModel):
        report = report.model_dump(mode="json")
    return CSV_HEADER + (CONCEPT_COLUMNS if report.get("concepts") or report.get("concept_pairs") else ())


def report_csv_rows(report: AgreementReport | Mapping[str, Any]) -> list[list[Any]]:
    """report.csv: one row per pair (scope 'pair'), per pair and label ('label'), per backend ('backend'); with
    concept backends also per concept backend ('concept', and with a label 'concept_label') and per pair with
    one ('concept_pair', 'concept_pair_label')."""
    if isinstance(report, BaseModel):
        report = report.model_dump(mode="json")
    header = csv_header(report)
    columns = {name: i for i, name in enumerate(header)}
    rows = []

    def row(**values: Any) -> list[Any]:
        out: list[Any] = [None] * len(header)
        for key, value in values.items():
            if key in columns:
                out[columns[key]] = value
        return out

    for entry in report["pairs"]:
        rows.append(row(scope="pair", backend_a=entry["a"], backend_b=entry["b"], iou_threshold=report["iou_threshold"], **entry))
    for entry in report["labels"]:
        rows.append(row(scope="label", backend_a=entry["a"], backend_b=entry["b"], iou_threshold=report["iou_threshold"], **entry))
    for entry in report["backend_stats"]:
        flags = {f"flag_{name}": count for name, count in entry.get("flags", {}).items()}
        rows.append(row(scope="backend", **{k: v for k, v in entry.items() if k != "flags"}, **flags))
    for entry in report.get("concepts", []):
        rows.append(row(scope="concept", **{k: v for k, v in entry.items() if k != "labels"}))
        for label in entry["labels"]:
            rows.append(row(scope="concept_label", backend=entry["backend"], **label))
    for entry in report.get("concept_pairs", []):
        pair = dict(pair=entry["pair"], backend_a=entry["a"], backend_b=entry["b"])
        rows.append(row(scope="concept_pair", **pair, **{k: v for k, v in entry.items() if k not in ("labels", "pair", "a", "b")}))
        for label in entry["labels"]:
            rows.append(row(scope="concept_pair_label", **pair, **label))
    return rows


def save_report(layout: OutputLayout, report: AgreementReport) -> list[Path]:
    """Write OUT/report.json and OUT/report.csv; return their paths."""
    write_json(layout.report_json_path, report)
    write_csv(layout.report_csv_path, csv_header(report), report_csv_rows(report))
    return [layout.report_json_path, layout.report_csv_path]
