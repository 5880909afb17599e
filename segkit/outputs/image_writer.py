"""The per-image output stage, shared by `segkit run` and `segkit compare`.

``MaskSink`` takes one backend's masks for one image as they arrive (dense, in chunks of boxes) and
keeps only what later steps need: the masks as RLE (``MaskSet``), the mask PNGs written at once (or the
RLE kept for the record with ``--mask-format rle``), the panel-scale crops and the page's preview-scale
masks. ``finish_image`` then measures every pair of backends, draws the panel when asked, writes the
page's picture of the image, and writes the image record. A run feeds it masks from the backends; a
compare feeds it masks read back from disk, so both write the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from segkit.config import MaskFormat, PanelMode, QualitySettings, VizSettings
from segkit.inputs.detections import Detection
from segkit.outputs.agreement import DEFAULT_IOU_THRESHOLD
from segkit.outputs.coco import CocoExport
from segkit.outputs.files import atomic_write_bytes, write_jpeg, write_json
from segkit.outputs.instances import InstanceSink, concepts_disagree, instance_pairs
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import pairwise_ious_by_id
from segkit.outputs.mask_png import encode_mask_png
from segkit.outputs.mask_set import MaskSet
from segkit.outputs.panels import Downscaled, PanelGeometry, PanelLayer, render_panel, to_panel
from segkit.outputs.previews import preview_geometry, preview_mask, write_preview
from segkit.outputs.quality import mask_flags
from segkit.outputs.records import (
    Answer,
    BackendRecord,
    ImageRecord,
    Rle,
    combine_records,
)


@dataclass(frozen=True)
class OutputSettings:
    """What a run or compare writes for each image."""

    mask_format: MaskFormat = "png"
    panels: PanelMode = "all"
    iou_threshold: float = DEFAULT_IOU_THRESHOLD  # --panels disagree draws images with a pair below it
    viz: VizSettings = field(default_factory=VizSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    page: bool = True  # the page's picture and preview-scale masks of each image (off with --no-html)


class MaskSink:
    """One backend's masks of one image, taken in as they come and kept compact."""

    def __init__(self, layout: OutputLayout, stem: str, backend: str, size: tuple[int, int],
                 settings: OutputSettings, write_files: bool = True, full_rle: bool = False):
        self.layout = layout
        self.stem = stem
        self.backend = backend
        self.width, self.height = size
        self.settings = settings
        self.write_files = write_files  # False when the masks were read back from disk (compare)
        self.full_rle = full_rle or settings.mask_format == "rle"  # keep full-image RLE (rle records, --coco)
        self.geometry = PanelGeometry.of(self.width, self.height, settings.viz) if settings.panels != "none" else None
        self.preview = preview_geometry(self.width, self.height, settings.viz.preview_side) if settings.page else None
        self.preview_masks: dict[int, Any] = {}  # detection id -> PreviewMask (empty masks left out)
        self.masks = MaskSet.empty(self.height, self.width)
        self.ids: list[int] = []
        self.answers: list[Answer] = []
        self.layer = PanelLayer([], [])

    def add(self, detections: Sequence[Detection], masks: np.ndarray, scores: Sequence[float]) -> None:
        """Masks (N, H, W) bool and scores of ``detections``, in order."""
        for det, mask, score in zip(detections, masks, scores):
            self.add_one(det, mask, float(score))

    def add_one(self, det: Detection, mask: np.ndarray, score: float, answer: Answer | None = None) -> None:
        index = self.masks.add(mask, self.full_rle)
        self.ids.append(det.id)
        if answer is None:
            answer = self._answer(det, mask, score, index)
        x, y, w, h = self.masks.bbox_xywh(index)
        answer.flags = mask_flags(mask[y : y + h, x : x + w], det.box, self.settings.quality, origin=(x, y),
                                  image_size=(self.width, self.height))
        self.answers.append(answer)
        if self.geometry is not None:
            drawn = index < self.settings.viz.max_detections and self.masks.areas[index] > 0
            self.layer.masks.append(to_panel(mask, self.masks.bbox_xywh(index), self.geometry) if drawn else None)
            self.layer.scores.append(score)
        if self.preview is not None:
            placed = preview_mask(mask, self.masks.bbox_xywh(index), self.preview)
            if placed is not None:
                self.preview_masks[det.id] = placed

    def _answer(self, det: Detection, mask: np.ndarray, score: float, index: int) -> Answer:
        area = self.masks.areas[index]
        if self.settings.mask_format == "rle":
            return Answer(id=det.id, area_px=area, score=score, rle=Rle(**self.masks.json_rle(index)))
        path = self.layout.mask_path(self.stem, det.id, det.label, self.backend)
        if self.write_files:
            atomic_write_bytes(path, encode_mask_png(mask))
        return Answer(id=det.id, area_px=area, score=score, mask=self.layout.relative(path))


@dataclass
class BackendOutput:
    """One backend's part of an image: its record and, unless it failed, its masks."""

    record: BackendRecord
    record_file: str
    sink: MaskSink | None = None
    instances: InstanceSink | None = None  # a concept backend's, unless it failed (instead of ``sink``)


def write_backend_record(layout: OutputLayout, record: BackendRecord, stem: str) -> str:
    path = layout.backend_record_path(record.backend, stem)
    write_json(path, record)
    return layout.relative(path)


def finish_image(
    layout: OutputLayout,
    stem: str,
    outputs: Sequence[BackendOutput],
    settings: OutputSettings,
    rgb: np.ndarray | None,
    coco: CocoExport | None = None,
    redraw: bool = True,
) -> tuple[ImageRecord, str]:
    """Pair IoUs, the panel, the page's preview and the image record of one image (written last: it marks
    the image complete).

    ``rgb`` is the image for the panel and the preview (None: not available). Returns the record and what
    happened to the panel: "drawn", "skipped" (by ``--panels``), "kept" (an existing panel, not redrawn:
    ``redraw`` False or no image) or "none".
    """
    records = [o.record for o in outputs]
    concept = {o.record.backend: o.instances for o in outputs if o.instances is not None}
    # What answers each detection: a box backend's masks, or a concept backend's instances paired with detections.
    sinks = {o.record.backend: o.sink if o.sink is not None else o.instances.paired()  # type: ignore[union-attr]
             for o in outputs if o.sink is not None or o.instances is not None}
    pair_ious = pairwise_ious_by_id({name: (sink.ids, sink.masks) for name, sink in sinks.items()})
    pairs = {}
    if concept:
        det_labels = {p.id: p.label for rec in records for p in rec.detections}
        boxed = {o.record.backend: (o.sink.ids, o.sink.masks) for o in outputs if o.sink is not None}
        pairs = instance_pairs([o.record.backend for o in outputs], boxed, concept, det_labels)
    image = combine_records(records, pair_ious, None, {o.record.backend: o.record_file for o in outputs}, pairs)

    panel_file, panel = None, "none"
    scaled = Downscaled(rgb) if rgb is not None else None  # the panel's column, then the preview from it
    path = layout.panel_path(stem)
    if settings.panels == "none" or not redraw or rgb is None:
        if path.is_file() and not redraw:
            panel_file, panel = layout.relative(path), "kept"
        elif settings.panels == "none":
            panel = "skipped"
    elif settings.panels == "disagree" and not (_disagrees(pair_ious, settings.iou_threshold)
                                                or concepts_disagree(pairs, concept, len(image.detections), settings.iou_threshold)):
        panel = "skipped"
    else:
        detections = [Detection(d.id, d.label, tuple(d.bbox_xyxy_px), d.confidence, {}) for d in image.detections]  # type: ignore[arg-type]
        layers = {name: _aligned_layer(sink, detections) for name, sink in sinks.items()}
        found = {name: sink.instance_layer() for name, sink in concept.items()}
        write_jpeg(path, render_panel(rgb, detections, layers, settings.viz, title=image.image, instances=found, scaled=scaled),
                   settings.viz.jpeg_quality)
        panel_file, panel = layout.relative(path), "drawn"
    if panel_file:
        image.panel = panel_file
        image.files.append(panel_file)
    if settings.page:
        image.preview = write_preview(layout, stem, scaled, (image.width, image.height), settings.viz.preview_side,
                                      {name: sink.preview_masks for name, sink in sinks.items()})
        if image.preview.file:
            image.files.append(image.preview.file)
    write_json(layout.json_path(stem), image)
    if coco is not None:
        for o in outputs:
            if o.sink is not None:
                coco.add(stem, image, o.record.backend, o.sink.ids, o.sink.masks)
            elif o.instances is not None:
                coco.add_instances(stem, image, o.record.backend, o.instances.instances, o.instances.masks)
    return image, panel


def _disagrees(pair_ious: Mapping[tuple[str, str], Mapping[int, float]], threshold: float) -> bool:
    return any(value < threshold for per_det in pair_ious.values() for value in per_det.values())


def _aligned_layer(sink: Any, detections: Sequence[Detection]) -> PanelLayer:
    """The panel layer of a MaskSink (or of a concept backend's ``PairedMasks``) in the image record's detection
    order (a merged backend may lack some)."""
    at = {det_id: i for i, det_id in enumerate(sink.ids)}
    masks: list[Any] = []
    scores: list[float] = []
    for det in detections:
        i = at.get(det.id)
        masks.append(sink.layer.masks[i] if i is not None and i < len(sink.layer.masks) else None)
        scores.append(sink.layer.scores[i] if i is not None and i < len(sink.layer.scores) else 0.0)
    return PanelLayer(masks, scores)


def image_path_of(record: BackendRecord, images_dir: Path | None) -> Path | None:
    """Where the original image of a record is: in ``images_dir`` if given, else where the run read it."""
    candidates = []
    if images_dir is not None:
        candidates.append(images_dir / record.image)
    if record.image_path:
        candidates.append(Path(record.image_path))
    return next((p for p in candidates if p.is_file()), None)
