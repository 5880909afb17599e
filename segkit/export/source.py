"""Reading an output folder for an export, one image at a time: the chosen backends' records and masks.

The masks come from the first chosen backend: a box backend's answer per detection, a concept backend's
instances (every one, paired with a detection or not). The other chosen backends only vote (``--agree``).
Records and masks are read as `segkit compare` reads them (segkit.outputs.reading: PNG or RLE, checked and
bounded, paths only inside the folder), so merged folders, object storage and both mask formats just work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from segkit.export.filters import ClassMap, Tally
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_set import MaskSet, mask_ious
from segkit.outputs.quality import EMPTY
from segkit.outputs.reading import (
    OutputFileError,
    load_answer_mask,
    load_backend_record,
    load_instance_mask,
)
from segkit.outputs.records import RECORD_VERSION, BackendRecord
from segkit.storage import as_location


@dataclass
class ExportObject:
    """One mask that goes into the dataset: ``masks[index]`` of its image."""

    class_name: str
    label: str  # the detector's (or concept's) label, before the label map
    score: float
    index: int
    detection: int | None = None
    instance: int | None = None


@dataclass
class ExportImage:
    stem: str
    file_name: str
    width: int
    height: int
    image: Any  # where the original image is (a Path or an object-store location), None when not found
    masks: MaskSet
    objects: list[ExportObject] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    skipped: str | None = None  # why the image is not in the dataset (its backend failed on it)


@dataclass(frozen=True)
class Filters:
    classes: ClassMap
    min_score: float | None = None
    drop_flags: tuple[str, ...] = (EMPTY,)
    agree: float | None = None


class FolderSource:
    """The chosen backends' records of an output folder; ``read(stem)`` is safe from several threads."""

    def __init__(self, layout: OutputLayout, found: Mapping[str, Mapping[str, Path]], backends: Sequence[str],
                 filters: Filters, images: Path | None = None, max_pixels: int | None = None):
        self.layout = layout
        self.found = found
        self.backends = list(backends)
        self.filters = filters
        self.images = images
        self.max_pixels = max_pixels

    @property
    def stems(self) -> list[str]:
        return sorted(self.found[self.backends[0]])

    def _record(self, backend: str, stem: str) -> BackendRecord | None:
        path = self.found[backend].get(stem)
        if path is None:
            return None
        record = load_backend_record(path)
        if record.version != RECORD_VERSION or record.backend != backend:
            raise OutputFileError(f"{path} is not a version {RECORD_VERSION} backend record of {backend!r}"
                                  f" (version {record.version!r}, backend {record.backend!r})")
        return record

    def labels(self, stem: str) -> list[str]:
        """The labels of the source backend's masks of one image (no mask is read)."""
        try:
            record = self._record(self.backends[0], stem)
        except OutputFileError:
            return []  # read() says why, once, when the image's turn comes
        if record is None or record.failed:
            return []
        if record.kind == "concept":
            return [inst.label for inst in record.instances]
        labels = {p.id: p.label for p in record.detections}
        return [labels[a.id] for a in record.answers if a.id in labels]

    def _mask(self, record: BackendRecord, item: Any) -> Any:
        kwargs = {"max_pixels": self.max_pixels} if self.max_pixels else {}
        if record.kind == "concept":
            return load_instance_mask(self.layout, item, record.size, **kwargs)
        return load_answer_mask(self.layout, item, record.size, **kwargs)

    def _image_location(self, record: BackendRecord) -> Any:
        candidates = []
        if self.images is not None:
            candidates.append(self.images / record.image)
        if record.image_path:
            candidates.append(as_location(record.image_path))
        for candidate in candidates:
            try:
                if candidate.is_file():
                    return candidate
            except Exception:  # an object store that cannot be reached: as if not found
                continue
        return None

    def read(self, stem: str) -> ExportImage:
        """One image's masks through the filters; OutputFileError for a record or mask that cannot be used."""
        record = self._record(self.backends[0], stem)
        assert record is not None
        image = ExportImage(stem, record.image, record.width, record.height, self._image_location(record),
                            MaskSet.empty(record.height, record.width))
        if record.failed:
            image.skipped = "failed"
            return image
        if record.kind == "concept":
            items = [(inst, inst.label, inst.score, inst.flags, inst.detection, inst.id) for inst in record.instances]
        else:
            labels = {p.id: p.label for p in record.detections}
            items = []
            for answer in record.answers:
                if answer.id not in labels:
                    raise OutputFileError(f"{self.layout.relative(self.found[record.backend][stem])} answers detection"
                                          f" {answer.id}, which it does not list")
                items.append((answer, labels[answer.id], answer.score, answer.flags, answer.id, None))
        rules = self.filters
        waiting: list[tuple[ExportObject, Any]] = []
        for item, label, score, flags, detection, instance in items:
            name = rules.classes.class_of(label)
            if name is None:
                image.tally.drop("label", label)
                continue
            if rules.min_score is not None and score < rules.min_score:
                image.tally.drop("score", name)
                continue
            mask = self._mask(record, item)
            bad = [f for f in rules.drop_flags if f in flags] or ([EMPTY] if not mask.any() else [])
            if bad:
                image.tally.drop("flags", name)
                continue
            index = image.masks.add(mask)
            waiting.append((ExportObject(name, label, float(score), index, detection, instance), item))
        if rules.agree is not None:
            waiting = self._agreeing(stem, record, image, waiting)
        for obj, _ in waiting:
            image.objects.append(obj)
            image.tally.keep(obj.class_name)
        return image

    def _agreeing(self, stem: str, record: BackendRecord, image: ExportImage,
                  waiting: list[tuple[ExportObject, Any]]) -> list[tuple[ExportObject, Any]]:
        """The objects whose detection every chosen backend answered, every pair of masks at IoU >= --agree."""
        wanted = {obj.detection for obj, _ in waiting if obj.detection is not None}
        sets = [image.masks]
        indices = [{obj.detection: obj.index for obj, _ in waiting if obj.detection is not None}]
        for backend in self.backends[1:]:
            other = self._record(backend, stem)
            masks, index = MaskSet.empty(record.height, record.width), {}
            if other is not None and not other.failed:
                if other.size != record.size:
                    raise OutputFileError(f"backends {record.backend!r} and {backend!r} give {stem} different sizes"
                                          f" ({record.width}x{record.height} and {other.width}x{other.height})")
                items = ({inst.detection: inst for inst in other.instances if inst.detection is not None}
                         if other.kind == "concept" else {a.id: a for a in other.answers})
                for det in sorted(wanted & set(items)):
                    index[det] = masks.add(self._mask(other, items[det]))
            sets.append(masks)
            indices.append(index)
        kept = []
        for obj, item in waiting:
            det = obj.detection
            ok = det is not None and all(det in idx for idx in indices)
            if ok:
                for a in range(len(sets)):
                    for b in range(a + 1, len(sets)):
                        if mask_ious(sets[a], sets[b], [(indices[a][det], indices[b][det])])[0] < self.filters.agree:
                            ok = False
            if ok:
                kept.append((obj, item))
            else:
                image.tally.drop("agree", obj.class_name)
        return kept
