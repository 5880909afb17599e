"""COCO instance annotations as ground truth: ``images`` (file_name), ``annotations`` (polygon or RLE
``segmentation``, ``category_id``, ``iscrowd``) and ``categories``, matched to output images by file name.

The file's structure is checked when it is opened (one line for the first thing wrong); an annotation
whose mask cannot be drawn (a polygon of fewer than 3 points, an RLE of another size) makes its image
a GroundTruthProblem when that image is scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import (
    GroundTruthProblem,
    GtImage,
    GtInstance,
    check_size,
)
from segkit.outputs.mask_set import decode_mask

AMBIGUOUS = object()  # a file name that two COCO images share


def _not_coco(path: Path, why: str) -> InputError:
    return InputError(f"ground truth {path} is not COCO instance annotations: {why}")


@dataclass
class CocoGroundTruth:
    path: Path
    images: dict[int, dict[str, Any]]  # COCO image id -> image entry
    annotations: dict[int, list[tuple[int, dict[str, Any]]]]  # image id -> [(position in the file, annotation)]
    category_names: dict[Any, str]  # category id -> name
    by_name: dict[str, Any] = field(default_factory=dict)  # file name, then stem -> image id (or AMBIGUOUS)
    format: str = "coco"

    @property
    def categories(self) -> list[str]:
        return sorted(set(self.category_names.values()))

    @classmethod
    def open(cls, path: Path) -> "CocoGroundTruth":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise _not_coco(path, f"not UTF-8 text ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            raise _not_coco(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        except RecursionError as exc:
            raise _not_coco(path, "its JSON is nested too deeply to be annotations") from exc
        except OSError as exc:
            raise InputError(f"cannot read ground truth {path}: {exc.strerror or exc}") from exc
        if isinstance(data, list):
            raise _not_coco(path, "it is a list (COCO *results*?); ground truth is an object with 'images', 'annotations' and 'categories'")
        if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
            missing = "an object" if not isinstance(data, dict) else " and ".join(
                f"an {k!r} list" for k in ("images", "annotations") if not isinstance(data.get(k), list))
            raise _not_coco(path, f"expected {missing}")
        categories = data.get("categories", [])
        if not isinstance(categories, list):
            raise _not_coco(path, "'categories' is not a list")
        names: dict[Any, str] = {}
        for i, cat in enumerate(categories):
            if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
                raise _not_coco(path, f"categories[{i}] needs an 'id' and a 'name'")
            names[cat["id"]] = cat["name"]
        images: dict[int, dict[str, Any]] = {}
        for i, image in enumerate(data["images"]):
            if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
                raise _not_coco(path, f"images[{i}] needs an 'id' and a 'file_name'")
            if image["id"] in images:
                raise _not_coco(path, f"images[{i}] repeats image id {image['id']!r}")
            images[image["id"]] = image
        annotations: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann or "segmentation" not in ann:
                raise _not_coco(path, f"annotations[{i}] needs an 'image_id' and a 'segmentation'")
            if ann["image_id"] not in images:
                raise _not_coco(path, f"annotations[{i}] refers to image id {ann['image_id']!r}, which 'images' does not list")
            if names and ann.get("category_id") not in names:
                raise _not_coco(path, f"annotations[{i}] has category_id {ann.get('category_id')!r}, which 'categories' does not list")
            annotations.setdefault(ann["image_id"], []).append((i, ann))
        found = cls(path, images, annotations, names)
        found.by_name = _name_index(images)
        return found

    def _find(self, image_name: str) -> Any:
        return self.by_name.get(image_name, self.by_name.get(PurePosixPath(image_name).stem))

    def has(self, image_name: str) -> bool:
        return self._find(image_name) is not None

    def image_count(self) -> int:
        return len(self.images)

    def sample_names(self, limit: int = 3) -> list[str]:
        return [image["file_name"] for image in list(self.images.values())[:limit]]

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        image_id = self._find(image_name)
        if image_id is AMBIGUOUS:
            raise GroundTruthProblem(f"{self.path} has several images named {image_name}; give them distinct file names")
        entry = self.images[image_id]
        where = f"{self.path} image {image_id!r} ({entry['file_name']})"
        width, height = entry.get("width"), entry.get("height")
        if width is not None and height is not None and (width, height) != tuple(size):
            raise GroundTruthProblem(f"{where} is {width}x{height} but the image is {size[0]}x{size[1]}; annotate the image at full size")
        instances = []
        for position, ann in self.annotations.get(image_id, []):
            what = f"{self.path} annotations[{position}] (image {entry['file_name']})"
            mask = _draw(ann["segmentation"], size, what)
            category_id = ann.get("category_id")
            category = self.category_names.get(category_id, None if category_id is None else str(category_id))
            instances.append(GtInstance(int(ann.get("id", position + 1)), category, mask, bool(ann.get("iscrowd", 0))))
        return GtImage(where, instances)


def _name_index(images: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Image ids by file name (without folders), then by stem; names two images share are AMBIGUOUS."""
    index: dict[str, Any] = {}
    for key_of in (lambda name: PurePosixPath(name).name, lambda name: PurePosixPath(name).stem):
        seen: dict[str, Any] = {}
        for image_id, image in images.items():
            key = key_of(image["file_name"].replace("\\", "/"))
            seen[key] = AMBIGUOUS if key in seen else image_id
        for key, value in seen.items():
            index.setdefault(key, value)
    return index


def _draw(segmentation: Any, size: tuple[int, int], what: str) -> np.ndarray:
    """One annotation's mask at the image's (width, height), from polygons or RLE."""
    width, height = size
    if isinstance(segmentation, dict):
        mask = _decode_rle(segmentation, what)
        check_size(mask.shape, size, f"{what}: the RLE mask")
        return mask
    if not isinstance(segmentation, list) or not segmentation:
        raise GroundTruthProblem(f"{what}: 'segmentation' is neither polygons (a list of [x1, y1, x2, y2, ...]) nor an RLE object")
    polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
    for k, polygon in enumerate(polygons):
        if not isinstance(polygon, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in polygon):
            raise GroundTruthProblem(f"{what}: polygon {k} is not a list of finite numbers")
        if len(polygon) % 2:
            raise GroundTruthProblem(f"{what}: polygon {k} has an odd count of numbers ({len(polygon)}); it lists x, y pairs")
        if len(polygon) < 6:
            raise GroundTruthProblem(f"{what}: polygon {k} has {len(polygon) // 2} point(s); a polygon needs at least 3")
    from pycocotools import mask as mask_utils

    rles = mask_utils.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def _decode_rle(rle: dict[str, Any], what: str) -> np.ndarray:
    """COCO RLE, compressed (``counts`` a string) or not (a list of run lengths, as crowd regions often are)."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise GroundTruthProblem(f"{what}: an RLE mask needs 'size': [height, width] and 'counts'") from exc
    if isinstance(counts, list):
        from pycocotools import mask as mask_utils

        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
            raise GroundTruthProblem(f"{what}: the RLE run lengths do not cover its {width}x{height} pixels")
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    elif not isinstance(counts, str):
        raise GroundTruthProblem(f"{what}: RLE 'counts' is a {type(counts).__name__}, expected a string or a list of run lengths")
    try:
        return decode_mask(rle)
    except Exception as exc:  # pycocotools raises bare Exceptions on garbled counts
        raise GroundTruthProblem(f"{what}: its RLE counts cannot be decoded ({exc})") from exc
