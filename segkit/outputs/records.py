"""The JSON records of one image, typed: a field is added here, once, and every reader sees it.

Two kinds, so that output folders written on different machines merge without losing anything:

* the **backend record** ``backends/<backend>/<stem>.json`` (``BackendRecord``): what one backend was
  asked for one image (the prompts: detections with their boxes) and what it answered (area, score and
  mask per detection, its settings and seconds, or why it failed). A mask is a PNG file (``mask``) or,
  with ``--mask-format rle``, COCO RLE inside the answer (``rle``); a folder may hold both. Written by
  ``segkit run`` and never rewritten by ``segkit compare``.
* the **image record** ``json/<stem>.json`` (``ImageRecord``): the backend records of one image combined,
  with the IoU of every pair of backends per detection. Written by ``segkit run`` for the backends of
  that run and rebuilt by ``segkit compare`` from every backend record in the folder.

A **concept backend** (phrases and exemplar boxes in, every instance out) writes the same two files: its
backend record has ``kind: "concept"``, the ``concepts`` it was asked for and every ``instance`` it found
(concept, label, score, box, mask or RLE, flags, and the detection it was paired with by box IoU, if
any); the image record lists the instances per backend (without RLE), gives each paired detection the
instance's mask as that backend's answer (``instance`` names it), and ``instance_pairs`` holds, for each
pair of backends with a concept backend in it, both sides' masks paired by mask IoU. Records of runs
without concept backends have none of these fields: their JSON is what it always was.

Both are built here (``combine_records``), so a run and a compare of the same masks write the same
image record. Reading a file that is not what segkit writes raises pydantic's ValidationError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from segkit.inputs.box_spaces import to_normalized_xyxy
from segkit.inputs.detections import Detection, SkippedDetection
from segkit.outputs.mask_metrics import pair_name
from segkit.plugins.concept_segmenter import Concept

RECORD_VERSION = 2

PairIous = Mapping[tuple[str, str], Mapping[int, float]]  # (a, b) -> detection id -> IoU


class RecordConflict(ValueError):
    """Backend records of one image that cannot be combined (different image size or detections)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer segkit versions may add fields


def _round(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


class Rle(_Model):
    """COCO compressed RLE of a full-resolution mask: ``size`` is [height, width]."""

    size: list[int] = Field(min_length=2, max_length=2)
    counts: str


class Prompt(_Model):
    """One detection as it was sent to every backend."""

    id: int
    label: str
    confidence: float | None = None
    bbox_xyxy_px: list[float] = Field(min_length=4, max_length=4)
    bbox_xyxy_norm: list[float] = Field(min_length=4, max_length=4)
    box_area_px: float
    source: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, det: Detection, size: tuple[int, int]) -> "Prompt":
        return cls(
            id=det.id,
            label=det.label,
            confidence=det.confidence,
            bbox_xyxy_px=[_round(v, 3) for v in det.box],
            bbox_xyxy_norm=[_round(v) for v in to_normalized_xyxy(det.box, size)],
            box_area_px=_round((det.box[2] - det.box[0]) * (det.box[3] - det.box[1]), 3),
            source=det.fields,
        )

    def detection(self) -> Detection:
        return Detection(self.id, self.label, tuple(self.bbox_xyxy_px), self.confidence, {})  # type: ignore[arg-type]


class Answer(_Model):
    """One backend's answer for one detection: a mask file, or the mask itself as RLE."""

    id: int
    area_px: int = Field(ge=0)
    score: float
    mask: str | None = None
    rle: Rle | None = None
    flags: list[str] = Field(default_factory=list)  # segkit.outputs.quality: empty, spill, low_fill, fragmented

    @model_serializer(mode="wrap")
    def _drop_absent_rle(self, handler):  # the PNG form keeps the JSON it always had
        data = handler(self)
        if data.get("rle") is None:
            data.pop("rle", None)
        return data


class Skipped(_Model):
    id: int
    label: str
    reason: str

    @classmethod
    def of(cls, skipped: SkippedDetection) -> "Skipped":
        return cls(id=skipped.id, label=skipped.label, reason=skipped.reason)


class BackendRecord(_Model):
    """``backends/<backend>/<stem>.json``. ``answers`` is empty when the backend failed (``failed`` says why)."""

    version: int
    backend: str
    image: str
    image_path: str | None = None
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    detections_file: str | None = None
    reader: str | None = None
    conf_threshold: float | None = None
    plugin: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    failed: str | None = None
    detections: list[Prompt] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    kind: Literal["box", "concept"] = "box"
    concepts: list["ConceptRecord"] = Field(default_factory=list)  # a concept backend: what it was asked
    instances: list["InstanceRecord"] = Field(default_factory=list)  # and every instance it found

    @model_serializer(mode="wrap")
    def _concepts_only_for_concept_backends(self, handler):  # a box backend's record keeps the JSON it always had
        data = handler(self)
        if self.kind == "box":
            data.pop("kind", None)
            for key in ("concepts", "instances"):
                if not data.get(key):
                    data.pop(key, None)
            return data
        lead = {k: data.pop(k) for k in ("version", "backend") if k in data}
        return {**lead, "kind": data.pop("kind"), **data}

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


class BackendAnswer(_Model):
    """A backend's answer for a detection, as the image record lists it."""

    area_px: int
    score: float
    mask: str | None = None
    flags: list[str] = Field(default_factory=list)
    instance: int | None = None  # a concept backend: the id of the instance paired with the detection

    @model_serializer(mode="wrap")
    def _drop_absent_instance(self, handler):  # a box backend's answer keeps the JSON it always had
        data = handler(self)
        if data.get("instance") is None:
            data.pop("instance", None)
        return data


class MaskScore(_Model):
    """One mask against its ground truth: mask IoU and boundary IoU."""

    iou: float
    boundary_iou: float


class GroundTruthScores(_Model):
    """A detection scored against ground truth by `segkit eval` (segkit.evaluation); absent until then."""

    status: Literal["matched", "false_positive", "unmapped"]
    gt_id: int | None = None  # COCO annotation id, instance PNG id, or semantic class id
    category: str | None = None  # the matched ground truth's category
    match_iou: float | None = None  # box IoU with the matched instance (None for semantic ground truth)
    backends: dict[str, MaskScore] = Field(default_factory=dict)  # matched detections only
    box: MaskScore | None = None  # the detection box itself as the mask: the baseline


class ConceptRecord(_Model):
    """One concept a concept backend was asked for on an image: a phrase, exemplar boxes (pixel xyxy;
    ``negative``: per box, an example of what to leave out), or both; ``label`` names its instances."""

    text: str | None = None
    label: str
    boxes: list[list[float]] = Field(default_factory=list)
    negative: list[bool] = Field(default_factory=list)

    @classmethod
    def of(cls, concept: Concept) -> "ConceptRecord":
        return cls(text=concept.text, label=concept.name, boxes=[[_round(v, 3) for v in box] for box in concept.boxes],
                   negative=[not p for p in concept.positive()] if any(concept.negative) else [])

    def concept(self) -> Concept:
        return Concept(self.text, tuple(tuple(b) for b in self.boxes), tuple(self.negative), self.label)  # type: ignore[arg-type]


class InstanceEntry(_Model):
    """One instance a concept backend found, as the image record lists it."""

    id: int
    concept: int = Field(ge=0)  # index into the backend's concepts for the image
    label: str
    score: float
    bbox_xyxy_px: list[float] = Field(min_length=4, max_length=4)  # the backend's box, clipped to the image
    area_px: int = Field(ge=0)
    mask: str | None = None
    flags: list[str] = Field(default_factory=list)  # against the instance's own box
    detection: int | None = None  # the detection it was paired with by box IoU (None: an extra instance)
    match_iou: float | None = None  # that box IoU
    ground_truth: GroundTruthScores | None = None  # written by `segkit eval` into the image record

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler):
        data = handler(self)
        for key in ("ground_truth", "rle"):
            if key in data and data[key] is None:
                data.pop(key)
        return data


class InstanceRecord(InstanceEntry):
    """One instance in a concept backend's record: a mask file, or the mask itself as RLE."""

    rle: Rle | None = None

    def entry(self) -> InstanceEntry:
        return InstanceEntry.model_validate(self.model_dump(exclude={"rle"}))


class MatchedPair(_Model):
    a: int
    b: int
    iou: float


class InstancePairs(_Model):
    """Two backends' masks of one image paired by mask IoU. Items are detection ids on a box backend's
    side, instance ids on a concept backend's side."""

    a: str
    b: str
    matched: list[MatchedPair] = Field(default_factory=list)
    only_a: list[int] = Field(default_factory=list)
    only_b: list[int] = Field(default_factory=list)


class DetectionRecord(_Model):
    id: int
    label: str
    confidence: float | None = None
    bbox_xyxy_px: list[float]
    bbox_xyxy_norm: list[float]
    box_area_px: float
    backends: dict[str, BackendAnswer] = Field(default_factory=dict)
    iou: dict[str, float] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    ground_truth: GroundTruthScores | None = None

    @model_serializer(mode="wrap")
    def _drop_absent_ground_truth(self, handler):  # records never evaluated keep the JSON they always had
        data = handler(self)
        if data.get("ground_truth") is None:
            data.pop("ground_truth", None)
        return data

    def pair_iou(self, a: str, b: str) -> float | None:
        """The IoU of backends a and b, whichever way round it was written."""
        value = self.iou.get(pair_name(a, b))
        return self.iou.get(pair_name(b, a)) if value is None else value


class BackendRun(_Model):
    plugin: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


# A mask at the page's preview scale: x, y, width, height of its crop in preview pixels, and the crop's
# pixels as run lengths (segkit.outputs.previews.encode_runs; the page's script reads them).
PreviewMask = tuple[int, int, int, int, str]


class Preview(_Model):
    """What the page shows of an image, made as the image finished (segkit.outputs.previews): its picture
    (``file``, relative to OUT; None when the original was not at hand: the page draws the masks on grey),
    its size in preview pixels, every mask at that size, and (after `segkit eval`) the ground truth."""

    file: str | None = None
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    masks: dict[str, dict[int, PreviewMask]] = Field(default_factory=dict)  # backend -> detection id -> mask
    gt: list[PreviewMask] | None = None  # every ground-truth instance (semantic: every class present)

    @model_serializer(mode="wrap")
    def _drop_absent_gt(self, handler):
        data = handler(self)
        if data.get("gt") is None:
            data.pop("gt", None)
        return data


class ImageRecord(_Model):
    """``json/<stem>.json``: every backend's answers for one image, with the pair IoUs."""

    version: int
    image: str
    image_path: str | None = None
    width: int
    height: int
    detections_file: str | None = None
    reader: str | None = None
    conf_threshold: float | None = None
    backends: dict[str, BackendRun] = Field(default_factory=dict)
    failed_backends: dict[str, str] = Field(default_factory=dict)
    detections: list[DetectionRecord] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    panel: str | None = None
    backend_records: dict[str, str | None] = Field(default_factory=dict)
    files: list[str] = Field(default_factory=list)
    concepts: dict[str, list[ConceptRecord]] = Field(default_factory=dict)  # per concept backend
    instances: dict[str, list[InstanceEntry]] = Field(default_factory=dict)  # per concept backend that answered
    instance_pairs: dict[str, InstancePairs] = Field(default_factory=dict)  # "a vs b" -> masks paired by mask IoU
    preview: Preview | None = None  # absent with --no-html, and in records of segkit before 0.2

    @model_serializer(mode="wrap")
    def _drop_absent_fields(self, handler):  # images without concept backends or a preview keep the JSON they always had
        data = handler(self)
        for key in ("concepts", "instances", "instance_pairs"):
            if not data.get(key):
                data.pop(key, None)
        if data.get("preview") is None:
            data.pop("preview", None)
        return data

    def instance_labels(self, backend: str) -> dict[int, str]:
        return {inst.id: inst.label for inst in self.instances.get(backend, [])}


def backend_record(
    *,
    backend: str,
    image: Path,
    size: tuple[int, int],
    detections_file: Path | None,
    reader: str | None,
    conf: float,
    detections: Sequence[Detection],
    skipped: Sequence[SkippedDetection],
    info: Mapping[str, Any],
    answers: Sequence[Answer] = (),
    failed: str | None = None,
    concepts: Sequence[ConceptRecord] | None = None,
    instances: Sequence[InstanceRecord] = (),
) -> BackendRecord:
    """The record of one backend on one image; ``answers`` in detection order (none when it failed). A concept
    backend's record has ``concepts`` (what it was asked, possibly none) and ``instances`` instead."""
    width, height = size
    return BackendRecord(
        version=RECORD_VERSION,
        backend=backend,
        image=image.name,
        image_path=str(image),
        width=width,
        height=height,
        detections_file=str(detections_file) if detections_file else None,
        reader=reader,
        conf_threshold=conf,
        plugin=info.get("plugin"),
        settings=dict(info.get("settings", {})),
        seconds=float(info.get("seconds", 0.0)),
        failed=failed,
        detections=[Prompt.of(det, size) for det in detections],
        answers=list(answers),
        skipped=[Skipped.of(s) for s in skipped],
        kind="box" if concepts is None else "concept",
        concepts=list(concepts or ()),
        instances=list(instances),
    )


def combine_records(
    records: Sequence[BackendRecord],
    pair_ious: PairIous,
    panel_file: str | None,
    record_files: Mapping[str, str],
    instance_pairs: Mapping[str, InstancePairs] | None = None,
) -> ImageRecord:
    """The image record from the backend records of one image, in backend order.

    ``record_files`` maps backend to its backend record's relative path. A detection that only some
    backends have (runs with different --conf, say) lists only those, and pairs only where both have it.
    Raises RecordConflict when the records describe different images or different boxes.
    """
    if not records:
        raise ValueError("combine_records needs at least one backend record")
    first = records[0]
    prompts: dict[int, Prompt] = {}
    prompt_owner: dict[int, str] = {}
    for rec in records:
        if rec.size != first.size:
            raise RecordConflict(
                f"backend {first.backend!r} saw {first.image} as {first.width}x{first.height} but backend"
                f" {rec.backend!r} saw {rec.image} as {rec.width}x{rec.height}: two different images share the stem"
            )
        for prompt in rec.detections:
            known = prompts.get(prompt.id)
            if known is None:
                prompts[prompt.id] = prompt
                prompt_owner[prompt.id] = rec.backend
            elif known.bbox_xyxy_px != prompt.bbox_xyxy_px or known.label != prompt.label:
                raise RecordConflict(
                    f"backends {prompt_owner[prompt.id]!r} and {rec.backend!r} were given different detection"
                    f" {prompt.id} ({known.label} {known.bbox_xyxy_px} vs {prompt.label} {prompt.bbox_xyxy_px}):"
                    " their runs read different detections"
                )

    ok = [rec for rec in records if not rec.failed]
    answers: dict[str, dict[int, Answer | InstanceRecord]] = {
        rec.backend: {a.id: a for a in rec.answers} if rec.kind == "box" else
        {inst.detection: inst for inst in rec.instances if inst.detection is not None}  # paired instances answer
        for rec in ok
    }
    detections = []
    for det_id in sorted(prompts):
        prompt = prompts[det_id]
        per_backend = {
            name: BackendAnswer(area_px=ans[det_id].area_px, score=ans[det_id].score, mask=ans[det_id].mask,
                                flags=ans[det_id].flags,
                                instance=ans[det_id].id if isinstance(ans[det_id], InstanceRecord) else None)
            for name, ans in answers.items()
            if det_id in ans
        }
        ious = {pair_name(a, b): _round(v[det_id]) for (a, b), v in pair_ious.items() if det_id in v}
        detections.append(DetectionRecord(
            id=prompt.id, label=prompt.label, confidence=prompt.confidence, bbox_xyxy_px=prompt.bbox_xyxy_px,
            bbox_xyxy_norm=prompt.bbox_xyxy_norm, box_area_px=prompt.box_area_px, backends=per_backend, iou=ious,
            source=prompt.source,
        ))

    confs = {rec.conf_threshold for rec in records}
    mask_files = {a.mask for ans in answers.values() for a in ans.values() if a.mask}
    mask_files |= {inst.mask for rec in ok for inst in rec.instances if inst.mask}
    files = sorted(mask_files) + sorted(record_files[rec.backend] for rec in records if rec.backend in record_files)
    return ImageRecord(
        version=RECORD_VERSION,
        image=first.image,
        image_path=first.image_path,
        width=first.width,
        height=first.height,
        detections_file=first.detections_file,
        reader=first.reader,
        conf_threshold=confs.pop() if len(confs) == 1 else None,
        backends={rec.backend: BackendRun(plugin=rec.plugin, settings=rec.settings, seconds=rec.seconds) for rec in ok},
        failed_backends={rec.backend: rec.failed for rec in records if rec.failed},
        detections=detections,
        skipped=list(first.skipped),
        panel=panel_file,
        backend_records={rec.backend: record_files.get(rec.backend) for rec in records},
        files=files + ([panel_file] if panel_file else []),
        concepts={rec.backend: list(rec.concepts) for rec in records if rec.kind == "concept"},
        instances={rec.backend: [inst.entry() for inst in rec.instances] for rec in ok if rec.kind == "concept"},
        instance_pairs=dict(instance_pairs or {}),
    )
