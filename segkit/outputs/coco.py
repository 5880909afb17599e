"""Every backend's masks as COCO instance annotations with RLE segmentation (``--coco``).

One file per backend, ``OUT/coco/<backend>.json``, loadable by pycocotools' ``COCO()`` and by tools that
read COCO (FiftyOne, CVAT, Label Studio converters). All files of one export share the image ids (the
images in stem order, from 1) and the categories (the detection labels in sorted order, from 1), so
one backend's file can serve as ground truth and another's as results in ``COCOeval``.

Per annotation: ``segmentation`` is compressed RLE with ``counts`` as a str; ``bbox`` is [x, y, w, h]
of the mask itself (pycocotools' ``toBbox``; [0, 0, 0, 0] for an empty mask); ``area`` is the mask's
pixel count; ``score`` is the backend's score; ``iscrowd`` is 0. segkit adds ``detection_id``,
``prompt_bbox`` (the detector box sent to the backend, [x, y, w, h]) and ``mask_file``. A concept backend's
annotations are its instances, every one, in the category of its concept's label; segkit adds
``instance_id``, ``instance_bbox`` (the backend's box, [x, y, w, h]), ``detection_id`` (the detection it was
paired with, or null) and ``mask_file``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from segkit.inputs.box_spaces import xyxy_to_xywh
from segkit.outputs.files import write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_set import MaskSet
from segkit.outputs.records import ImageRecord


def encode_rle(masks: np.ndarray) -> list[dict[str, Any]]:
    """(N, H, W) bool masks as COCO compressed RLE, ``counts`` decoded to str for JSON."""
    if masks.shape[0] == 0:
        return []
    masks_set = MaskSet.from_dense(masks)
    return [masks_set.json_rle(i) for i in range(len(masks_set))]


class CocoExport:
    """Collects RLE annotations image by image (from any thread) and writes one COCO file per backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[str, dict[str, Any]] = {}
        self._annotations: dict[str, dict[str, list[dict[str, Any]]]] = {}  # backend -> stem -> annotations

    def add(self, stem: str, record: ImageRecord, backend: str, det_ids: Sequence[int], masks: MaskSet) -> None:
        """One backend's masks for one image; ``masks[i]`` belongs to detection ``det_ids[i]`` of ``record``."""
        detections = {d.id: d for d in record.detections}
        prompts = xyxy_to_xywh(np.asarray([detections[i].bbox_xyxy_px for i in det_ids], dtype=np.float64))
        annotations = []
        for k, (det_id, prompt) in enumerate(zip(det_ids, prompts)):
            det = detections[det_id]
            answer = det.backends[backend]
            annotations.append({
                "label": det.label,
                "segmentation": masks.json_rle(k),
                "area": masks.areas[k],
                "bbox": [float(v) for v in masks.bbox_xywh(k)],
                "iscrowd": 0,
                "score": answer.score,
                "detection_id": det_id,
                "prompt_bbox": [round(float(v), 3) for v in prompt],
                "mask_file": answer.mask,
            })
        image = {"file_name": record.image, "width": record.width, "height": record.height}
        with self._lock:
            self._images[stem] = image
            self._annotations.setdefault(backend, {})[stem] = annotations

    def add_instances(self, stem: str, record: ImageRecord, backend: str, instances: Sequence[Any], masks: MaskSet) -> None:
        """A concept backend's instances for one image (``InstanceRecord``s); ``masks[i]`` is ``instances[i]``'s mask."""
        boxes = xyxy_to_xywh(np.asarray([inst.bbox_xyxy_px for inst in instances], dtype=np.float64).reshape(-1, 4))
        annotations = []
        for k, (inst, box) in enumerate(zip(instances, boxes)):
            annotations.append({
                "label": inst.label,
                "segmentation": masks.json_rle(k),
                "area": masks.areas[k],
                "bbox": [float(v) for v in masks.bbox_xywh(k)],
                "iscrowd": 0,
                "score": inst.score,
                "instance_id": inst.id,
                "instance_bbox": [round(float(v), 3) for v in box],
                "detection_id": inst.detection,
                "mask_file": inst.mask,
            })
        image = {"file_name": record.image, "width": record.width, "height": record.height}
        with self._lock:
            self._images[stem] = image
            self._annotations.setdefault(backend, {})[stem] = annotations

    def merge(self, other: "CocoExport") -> None:
        """Add what another export collected (an engine's workers collect per image, the run merges)."""
        with self._lock:
            self._images.update(other._images)
            for backend, per_stem in other._annotations.items():
                self._annotations.setdefault(backend, {}).update(per_stem)

    def __getstate__(self) -> dict[str, Any]:  # sent between processes without its lock
        return {"_images": self._images, "_annotations": self._annotations}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def documents(self, backends: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The COCO dataset dict of each backend."""
        stems = sorted(self._images)
        image_ids = {stem: i for i, stem in enumerate(stems, start=1)}
        labels = sorted({a["label"] for per_stem in self._annotations.values() for anns in per_stem.values() for a in anns})
        category_ids = {label: i for i, label in enumerate(labels, start=1)}
        images = [{"id": image_ids[stem], **self._images[stem]} for stem in stems]
        categories = [{"id": category_ids[label], "name": label, "supercategory": ""} for label in labels]
        out = {}
        for backend in backends:
            annotations = []
            per_stem = self._annotations.get(backend, {})
            for stem in stems:
                for ann in per_stem.get(stem, []):
                    fields = {k: v for k, v in ann.items() if k != "label"}
                    annotations.append({"id": len(annotations) + 1, "image_id": image_ids[stem],
                                        "category_id": category_ids[ann["label"]], **fields})
            out[backend] = {
                "info": {"description": f"instance masks from segkit backend {backend}"},
                "licenses": [],
                "images": images,
                "categories": categories,
                "annotations": annotations,
            }
        return out

    def write(self, layout: OutputLayout, backends: Sequence[str]) -> list[Path]:
        paths = []
        for backend, document in self.documents(backends).items():
            path = layout.coco_path(backend)
            write_json(path, document)
            paths.append(path)
        return paths
