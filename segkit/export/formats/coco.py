"""``--format coco``: the masks as COCO instance annotations, a dataset with its images.

    images/train/<stem>.<ext>, images/val/...      the images
    annotations/instances_train.json, ..._val.json  COCO: images, categories (the dataset's classes, ids from 1),
                                                    annotations with ``segmentation`` as compressed RLE
                                                    (pycocotools; pixel-exact) or, with ``--coco-masks polygon``,
                                                    polygons (supervision; one per piece of the mask, holes filled)

Every annotation is ``iscrowd: 0``. supervision's ``as_coco`` is not used: it writes a mask with a hole or
in several pieces as ``iscrowd: 1`` uncompressed RLE, which COCOeval and Ultralytics' converter skip as
crowd regions, and it holds the whole dataset in memory. ``bbox`` is the mask's extent, ``area`` its pixel
count, ``score`` the backend's; segkit adds ``segkit`` (the backend, detection and instance ids, the label
before the label map). The files are assembled at the end from each image's part, one image at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from segkit.export.formats import Parts, Writer, json_items, write_streamed
from segkit.export.polygons import mask_polygons
from segkit.export.source import ExportImage


def coco_annotations(image: ExportImage, masks_as: str, tolerance: float, backend: str) -> list[dict[str, Any]]:
    """The COCO annotations of one image's objects, without ids (given when the file is assembled)."""
    out = []
    for obj in image.objects:
        if masks_as == "polygon":
            pieces = mask_polygons(image.masks.masks[obj.index], tolerance)
            # The outline runs through pixel indices; in COCO's coordinates pixel i spans [i, i + 1], its centre at i + 0.5.
            segmentation: Any = [[round(float(v) + 0.5, 2) for v in piece.reshape(-1)] for piece in pieces if len(piece) >= 3]
        else:
            segmentation = image.masks.json_rle(obj.index)  # pycocotools' compressed RLE, counts as str
        out.append({
            "category": obj.class_name,
            "segmentation": segmentation,
            "area": image.masks.areas[obj.index],
            "bbox": [int(v) for v in image.masks.bbox_xywh(obj.index)],
            "iscrowd": 0,  # never crowd: a mask with a hole or pieces is one object (see the module's note)
            "score": obj.score,
            "segkit": {"backend": backend, "label": obj.label, "detection_id": obj.detection, "instance_id": obj.instance},
        })
    return out


class CocoWriter(Writer):
    name = "coco"
    owned = ("images", "annotations")

    def annotations_path(self, split: str) -> Path:
        return self.root / "annotations" / f"instances_{split}.json"

    def write_image(self, image: ExportImage, split: str, file_name: str) -> dict[str, Any]:
        return {"coco": {"image": {"file_name": file_name, "width": image.width, "height": image.height},
                         "annotations": coco_annotations(image, self.options["coco_masks"], self.options["polygon_tolerance"],
                                                         self.options["backend"])}}

    def document(self, parts: Parts, split: str | None) -> Iterator[str]:
        """The COCO file's text in chunks: two passes over the parts (images, then annotations)."""
        categories = [{"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(self.classes)]
        yield ('{"info": {"description": "instance masks exported by segkit"}, "licenses": [],\n"categories": '
               + json_items_text(categories) + ',\n"images": ')
        yield from json_items({"id": k, **part["coco"]["image"]} for k, part in enumerate(parts(split), start=1))
        yield ',\n"annotations": '
        yield from json_items(self._annotations(parts(split)))
        yield "}\n"

    def _annotations(self, parts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        ann_id = 0
        for image_id, part in enumerate(parts, start=1):
            for ann in part["coco"]["annotations"]:
                ann_id += 1
                fields = {k: v for k, v in ann.items() if k != "category"}
                yield {"id": ann_id, "image_id": image_id, "category_id": self.class_ids[ann["category"]] + 1, **fields}

    def finish(self, parts: Parts, counts: dict[str, int]) -> list[Path]:
        written = []
        for split in ("train", "val"):
            if split == "train" or counts.get(split):
                path = self.annotations_path(split)
                write_streamed(path, self.document(parts, split))
                written.append(path)
        return written


def json_items_text(items: list[Any]) -> str:
    return "".join(json_items(items))
