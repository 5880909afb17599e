"""A concept backend's instances of one image, kept compact, and how they meet the other backends.

``InstanceSink`` is ``MaskSink``'s counterpart for a concept backend: each instance's mask goes into a
``MaskSet`` as it arrives (the dense answer is dropped at once), its PNG is written at once
(``masks/<stem>/inst<NN>_<label>_<backend>.png``) or its RLE kept with ``--mask-format rle``, its quality
flags are measured against its own box, and its panel-scale crop is kept when panels are drawn.

``match`` pairs the instances with the image's detections (``segkit.outputs.matching``): a paired
instance becomes the backend's answer for that detection (``paired``), so per-detection pair IoUs, the
agreement report, the panels' difference column and the page treat it like any backend's mask. An
unpaired detection is one the concept backend missed; an unpaired instance is an extra one.
``instance_pairs`` pairs whole mask sets between two backends when one of them is a concept backend.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from segkit.inputs.detections import Detection
from segkit.outputs.files import atomic_write_bytes
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_metrics import backend_pairs, pair_name
from segkit.outputs.mask_png import encode_mask_png
from segkit.outputs.mask_set import MaskSet
from segkit.outputs.matching import DEFAULT_IOU_MATCH, match_boxes, match_masks
from segkit.outputs.panels import InstanceLayer, PanelGeometry, PanelLayer, to_panel
from segkit.outputs.previews import preview_geometry, preview_mask
from segkit.outputs.quality import mask_flags
from segkit.outputs.records import (
    ConceptRecord,
    InstancePairs,
    InstanceRecord,
    MatchedPair,
    Rle,
)
from segkit.plugins.concept_segmenter import Concept, ConceptInstances


def instance_box(box: Sequence[float], extent_xywh: tuple[int, int, int, int], size: tuple[int, int]) -> list[float]:
    """An instance's box as recorded: the backend's pixel xyxy, corners ordered and clipped to the image;
    the mask's extent when nothing of the backend's box is left inside the image."""
    width, height = size
    x1, x2 = sorted((float(box[0]), float(box[2])))
    y1, y2 = sorted((float(box[1]), float(box[3])))
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        x, y, w, h = extent_xywh
        x1, y1, x2, y2 = float(x), float(y), float(x + w), float(y + h)
    return [round(v, 3) for v in (x1, y1, x2, y2)]


class PairedMasks(NamedTuple):
    """The instances paired with detections, as a box backend's masks look: detection ids, masks, panel layer."""

    ids: list[int]
    masks: MaskSet
    layer: PanelLayer
    # the page's preview-scale masks: paired instances under their detection's id, the others (extra
    # instances) under -(instance id + 1), so the page draws every instance but compares only the paired
    preview_masks: dict[int, Any]


class InstanceSink:
    """One concept backend's instances of one image, taken in as they come and kept compact."""

    def __init__(self, layout: OutputLayout, stem: str, backend: str, size: tuple[int, int], settings,
                 concepts: Sequence[Concept], write_files: bool = True, full_rle: bool = False):
        self.layout = layout
        self.stem = stem
        self.backend = backend
        self.width, self.height = size
        self.settings = settings  # segkit.outputs.image_writer.OutputSettings
        self.concepts = list(concepts)
        self.write_files = write_files  # False when the masks were read back from disk (compare)
        self.full_rle = full_rle or settings.mask_format == "rle"
        self.geometry = PanelGeometry.of(self.width, self.height, settings.viz) if settings.panels != "none" else None
        self.masks = MaskSet.empty(self.height, self.width)
        self.instances: list[InstanceRecord] = []
        self.panel_masks: list = []  # panel-scale crops (Placed or None), one per instance
        self.preview = preview_geometry(self.width, self.height, settings.viz.preview_side) if settings.page else None
        self.preview_crops: list = []  # the page's preview-scale crops (PreviewMask or None), one per instance

    @property
    def concept_records(self) -> list[ConceptRecord]:
        return [ConceptRecord.of(c) for c in self.concepts]

    def add(self, found: ConceptInstances, offset: int = 0) -> None:
        """A (checked) answer for the concepts ``offset`` onwards: its concept indices are renumbered."""
        for mask, score, box, concept in zip(found.masks, found.scores, found.boxes, found.concepts):
            self.add_one(mask, float(score), box, offset + int(concept))

    def add_one(self, mask: np.ndarray, score: float, box: Sequence[float], concept: int,
                entry: InstanceRecord | None = None) -> None:
        """One (H, W) bool instance mask; ``entry``: its record when read back from disk (compare)."""
        index = self.masks.add(mask, self.full_rle)
        x, y, w, h = extent = self.masks.bbox_xywh(index)
        if entry is None:
            entry = self._entry(index, mask, score, instance_box(box, extent, (self.width, self.height)), concept)
        entry.area_px = self.masks.areas[index]  # what the mask says, even if it was edited since the run
        entry.flags = mask_flags(mask[y : y + h, x : x + w], entry.bbox_xyxy_px, self.settings.quality, origin=(x, y),
                                 image_size=(self.width, self.height))
        self.instances.append(entry)
        if self.geometry is not None:
            drawn = index < self.settings.viz.max_detections and self.masks.areas[index] > 0
            self.panel_masks.append(to_panel(mask, extent, self.geometry) if drawn else None)
        if self.preview is not None:
            self.preview_crops.append(preview_mask(mask, extent, self.preview))

    def _entry(self, index: int, mask: np.ndarray, score: float, box: list[float], concept: int) -> InstanceRecord:
        label = self.concepts[concept].name if concept < len(self.concepts) else "instance"
        entry = InstanceRecord(id=index, concept=concept, label=label, score=score, bbox_xyxy_px=box,
                               area_px=self.masks.areas[index])
        if self.settings.mask_format == "rle":
            entry.rle = Rle(**self.masks.json_rle(index))
            return entry
        path = self.layout.instance_mask_path(self.stem, index, label, self.backend)
        if self.write_files:
            atomic_write_bytes(path, encode_mask_png(mask))
        entry.mask = self.layout.relative(path)
        return entry

    def match(self, detections: Sequence[Detection], threshold: float = DEFAULT_IOU_MATCH) -> None:
        """Pair the instances with the image's detections by box IoU (``segkit.outputs.matching.match_boxes``)."""
        pairing = match_boxes([d.box for d in detections], [d.label for d in detections],
                              [i.bbox_xyxy_px for i in self.instances], [i.label for i in self.instances], threshold)
        for inst in self.instances:
            inst.detection, inst.match_iou = None, None
        for i, j, value in pairing.pairs:
            self.instances[j].detection = detections[i].id
            self.instances[j].match_iou = round(value, 6)

    def paired(self) -> PairedMasks:
        """The paired instances in instance order, as the answers of the detections they were paired with."""
        chosen = [k for k, inst in enumerate(self.instances) if inst.detection is not None]
        layer = PanelLayer([self.panel_masks[k] for k in chosen] if self.geometry is not None else [],
                           [self.instances[k].score for k in chosen])
        previews: dict[int, Any] = {}
        for k, inst in enumerate(self.instances if self.preview is not None else ()):
            if self.preview_crops[k] is not None:
                previews[inst.detection if inst.detection is not None else -(inst.id + 1)] = self.preview_crops[k]
        return PairedMasks([self.instances[k].detection for k in chosen], self.masks.select(chosen), layer, previews)  # type: ignore[misc]

    def instance_layer(self) -> InstanceLayer:
        """Every instance at panel scale, for its column."""
        return InstanceLayer(list(self.panel_masks), [i.score for i in self.instances],
                             [i.bbox_xyxy_px for i in self.instances], [i.label for i in self.instances])

    def mask_files(self) -> list[str]:
        return [inst.mask for inst in self.instances if inst.mask]


def instance_pairs(order: Sequence[str], box_masks: Mapping[str, tuple[Sequence[int], MaskSet]],
                   concept_sinks: Mapping[str, InstanceSink], det_labels: Mapping[int, str],
                   threshold: float = DEFAULT_IOU_MATCH) -> dict[str, InstancePairs]:
    """For every pair of backends (in ``order``) with a concept backend in it, both sides' masks of the image
    paired by mask IoU. A box backend's side is its masks by detection id (labelled by the detection), a
    concept backend's its instances; only a concept backend's side is gated by label (see ``matching``)."""
    out: dict[str, InstancePairs] = {}
    present = [n for n in order if n in box_masks or n in concept_sinks]
    for a, b in backend_pairs(present):
        if a not in concept_sinks and b not in concept_sinks:
            continue
        sides = []
        for name in (a, b):
            if name in concept_sinks:
                sink = concept_sinks[name]
                sides.append(([i.id for i in sink.instances], sink.masks, [i.label for i in sink.instances], True))
            else:
                ids, masks = box_masks[name]
                sides.append((list(ids), masks, [det_labels.get(i, "") for i in ids], False))
        (ids_a, masks_a, labels_a, gate_a), (ids_b, masks_b, labels_b, gate_b) = sides
        pairing = match_masks(masks_a, labels_a, masks_b, labels_b, threshold, gate_a, gate_b)
        out[pair_name(a, b)] = InstancePairs(
            a=a, b=b,
            matched=[MatchedPair(a=ids_a[i], b=ids_b[j], iou=round(v, 6)) for i, j, v in pairing.pairs],
            only_a=[ids_a[i] for i in pairing.only_a], only_b=[ids_b[j] for j in pairing.only_b],
        )
    return out


def concepts_disagree(pairs: Mapping[str, InstancePairs], sinks: Mapping[str, InstanceSink], n_detections: int,
                      threshold: float) -> bool:
    """``--panels disagree``: a concept backend missed a detection or found an extra instance, or two backends'
    masks did not pair up, or paired below ``threshold``."""
    for sink in sinks.values():
        paired = sum(1 for i in sink.instances if i.detection is not None)
        if (n_detections and paired < n_detections) or (n_detections and paired < len(sink.instances)):
            return True
    return any(p.only_a or p.only_b or any(m.iou < threshold for m in p.matched) for p in pairs.values())
