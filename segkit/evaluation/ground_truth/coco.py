"""COCO instance annotations as ground truth: ``images`` (file_name), ``annotations`` (polygon or RLE
``segmentation``, ``category_id``, ``iscrowd``) and ``categories``, matched to output images by file name.

The file is read bounded and its structure checked when it is opened: every id a whole number, no
annotation id twice, ``iscrowd`` 0 or 1, sizes whole numbers (one line naming the file, the entry and
the field for the first thing wrong). An annotation whose mask cannot be drawn (a polygon of fewer than
3 points, an RLE of another size or whose runs do not cover it), or an image with more annotations than
``limits.max_ground_truth_instances``, makes its image a GroundTruthProblem when that image is scored,
before any of its masks is made.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from segkit.config import LimitSettings
from segkit.errors import InputError, exception_text
from segkit.evaluation.ground_truth.base import (
    GroundTruthProblem,
    GtImage,
    GtInstance,
    check_image_pixels,
    check_instance_count,
    check_size,
)
from segkit.input_files import GROUND_TRUTH_FILE, read_text
from segkit.outputs.mask_set import decode_mask
from segkit.text import preview, shorten, without_surrogates

AMBIGUOUS = object()  # a file name that two COCO images share


def _not_coco(path: Path, why: str) -> InputError:
    return InputError(f"ground truth {path} is not COCO instance annotations: {why}")


MAX_ID = 2**63  # COCO ids are whole numbers; beyond 64 bits no tool reads them back


def _field(value: Any, name: str) -> str:
    """How a message shows a bad field value: its short preview, and its JSON type when that is the surprise."""
    kind = {str: " (a string)", bool: " (a boolean)", list: " (a list)", dict: " (an object)"}.get(type(value), "")
    shown = "null" if value is None else preview(value, 60)
    return f"{name!r} is {shown}{kind}"


def _integer(value: Any, name: str, where: str, path: Path) -> int:
    """``value`` as a COCO id (a whole JSON number within 64 bits), else one line naming the file, the entry and the field."""
    if type(value) is int and -MAX_ID < value < MAX_ID:
        return value
    beyond = " (beyond 64 bits)" if type(value) is int else ""
    raise InputError(f"ground truth {path}: {where}: {_field(value, name)}{beyond}, expected a whole number; fix the file")


def _dimension(value: Any, name: str, where: str, path: Path) -> int | None:
    """An image entry's optional width or height: a positive whole number (1024.0 accepted), or None."""
    if value is None:
        return None
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    if type(value) is int and 0 < value < MAX_ID:
        return value
    raise InputError(f"ground truth {path}: {where}: {_field(value, name)}, expected a pixel count (a positive whole number); fix the file")


def _crowd(value: Any, where: str, path: Path) -> bool:
    """``iscrowd``: 0 or 1 (false or true); anything else ("0", 2, null) is one line, never a guess."""
    if value is None or type(value) not in (int, bool) or value not in (0, 1):
        raise InputError(f"ground truth {path}: {where}: {_field(value, 'iscrowd')}, expected 0 or 1; fix the file")
    return bool(value)


@dataclass(frozen=True)
class _Annotation:
    position: int  # where in the file's 'annotations' list, for messages
    id: int
    category_id: int | None
    crowd: bool
    segmentation: Any


@dataclass
class CocoGroundTruth:
    path: Path
    images: dict[int, dict[str, Any]]  # COCO image id -> image entry
    annotations: dict[int, list[_Annotation]]  # image id -> its annotations, checked
    category_names: dict[int, str]  # category id -> name
    by_name: dict[str, Any] = field(default_factory=dict)  # file name, then stem -> image id (or AMBIGUOUS)
    sizes: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)  # image id -> (width, height) it gives
    limits: LimitSettings = field(default_factory=LimitSettings)
    format: str = "coco"

    @property
    def categories(self) -> list[str]:
        return sorted(set(self.category_names.values()))

    @classmethod
    def open(cls, path: Path, limits: LimitSettings | None = None) -> "CocoGroundTruth":
        """The file read bounded (a regular file of at most ``limits.max_ground_truth_bytes``) and every id
        and field checked: the first thing wrong is one line naming the file, the entry and the field."""
        limits = limits or LimitSettings()
        text = read_text(path, limits.max_ground_truth_bytes, GROUND_TRUTH_FILE)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _not_coco(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except RecursionError:
            raise _not_coco(path, "its JSON is nested too deeply to be annotations") from None
        except ValueError as exc:  # a number of thousands of digits
            raise _not_coco(path, f"its JSON cannot be read ({exception_text(exc, 120)})") from None
        del text
        if isinstance(data, list):
            raise _not_coco(path, "it is a list (COCO *results*?); ground truth is an object with 'images', 'annotations' and 'categories'")
        if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
            missing = "an object" if not isinstance(data, dict) else " and ".join(
                f"an {k!r} list" for k in ("images", "annotations") if not isinstance(data.get(k), list))
            raise _not_coco(path, f"expected {missing}")
        categories = data.get("categories", [])
        if not isinstance(categories, list):
            raise _not_coco(path, "'categories' is not a list")
        names: dict[int, str] = {}
        for i, cat in enumerate(categories):
            if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
                raise _not_coco(path, f"categories[{i}] needs an 'id' and a 'name'")
            cat_id = _integer(cat["id"], "id", f"categories[{i}]", path)
            if cat_id in names:
                raise _not_coco(path, f"categories[{i}] repeats category id {cat_id}; give each category its own id")
            names[cat_id] = without_surrogates(cat["name"])  # "\ud800" in the JSON: kept as U+FFFD, as labels are
        images: dict[int, dict[str, Any]] = {}
        sizes: dict[int, tuple[int | None, int | None]] = {}
        for i, image in enumerate(data["images"]):
            if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
                raise _not_coco(path, f"images[{i}] needs an 'id' and a 'file_name'")
            image_id = _integer(image["id"], "id", f"images[{i}]", path)
            if image_id in images:
                raise _not_coco(path, f"images[{i}] repeats image id {image_id}")
            images[image_id] = image
            sizes[image_id] = (_dimension(image.get("width"), "width", f"images[{i}] (id {image_id})", path),
                               _dimension(image.get("height"), "height", f"images[{i}] (id {image_id})", path))
        annotations: dict[int, list[_Annotation]] = {}
        seen: dict[int, int] = {}  # annotation id -> its position
        for i, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or "image_id" not in ann or "segmentation" not in ann:
                raise _not_coco(path, f"annotations[{i}] needs an 'image_id' and a 'segmentation'")
            ann_id = _integer(ann["id"], "id", f"annotations[{i}]", path) if "id" in ann else i + 1
            where = f"annotations[{i}] (id {ann_id})"
            image_id = _integer(ann["image_id"], "image_id", where, path)
            if image_id not in images:
                raise _not_coco(path, f"annotations[{i}] refers to image id {image_id}, which 'images' does not list")
            category_id = ann.get("category_id")
            if category_id is not None or names:
                category_id = _integer(category_id, "category_id", where, path)
                if names and category_id not in names:
                    raise _not_coco(path, f"annotations[{i}] has category_id {category_id}, which 'categories' does not list")
            if ann_id in seen:
                numbered = "" if "id" in ann else " (an annotation without an 'id' is numbered by its place, from 1)"
                raise _not_coco(path, f"annotations[{i}] repeats annotation id {ann_id} of annotations[{seen[ann_id]}]{numbered};"
                                      " give each annotation its own id, or every instance is not counted")
            seen[ann_id] = i
            crowd = _crowd(ann.get("iscrowd", 0), where, path)
            annotations.setdefault(image_id, []).append(_Annotation(i, ann_id, category_id, crowd, ann["segmentation"]))
        found = cls(path, images, annotations, names, sizes=sizes, limits=limits)
        found.by_name = _name_index(images)
        return found

    def _find(self, image_name: str) -> Any:
        return self.by_name.get(image_name, self.by_name.get(PurePosixPath(image_name).stem))

    def has(self, image_name: str) -> bool:
        return self._find(image_name) is not None

    def image_count(self) -> int:
        return len(self.images)

    def sample_names(self, limit: int = 3) -> list[str]:
        return [shorten(image["file_name"], 80) for image in list(self.images.values())[:limit]]

    def load(self, image_name: str, size: tuple[int, int]) -> GtImage:
        image_id = self._find(image_name)
        if image_id is AMBIGUOUS:
            raise GroundTruthProblem(f"{self.path} has several images named {image_name}; give them distinct file names")
        entry = self.images[image_id]
        name = shorten(entry["file_name"], 80)  # a message quotes a short name, whatever the file holds
        where = f"{self.path} image {image_id} ({name})"
        check_image_pixels(size, self.limits, where)
        width, height = self.sizes[image_id]
        if width is not None and height is not None and (width, height) != tuple(size):
            raise GroundTruthProblem(f"{where} is {width}x{height} but the image is {size[0]}x{size[1]}; annotate the image at full size")
        annotations = self.annotations.get(image_id, [])
        check_instance_count(len(annotations), self.limits, where)
        instances = []
        for ann in annotations:
            what = f"{self.path} annotations[{ann.position}] (id {ann.id}, image {name})"
            mask = _draw(ann.segmentation, size, what)
            category_id = ann.category_id
            category = self.category_names.get(category_id, None if category_id is None else str(category_id))  # type: ignore[arg-type]
            instances.append(GtInstance(ann.id, category, mask, ann.crowd))
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


# An annotation's polygon outlines, clipped, may be at most this many times the image's width + height
# long: pycocotools walks every point of them at 5x (16 bytes each), so this bounds what drawing one costs.
MAX_OUTLINE = 100


def _finite(value: Any) -> bool:
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits
        return False


def _draw(segmentation: Any, size: tuple[int, int], what: str) -> np.ndarray:
    """One annotation's mask at the image's (width, height), from polygons or RLE.

    Polygons are clipped (``clip_polygon``) before pycocotools sees them: it walks every point of the
    outline, so coordinates of 4e8 would take gigabytes."""
    width, height = size
    if isinstance(segmentation, dict):
        return _decode_rle(segmentation, size, what)
    if not isinstance(segmentation, list) or not segmentation:
        raise GroundTruthProblem(f"{what}: 'segmentation' is neither polygons (a list of [x1, y1, x2, y2, ...]) nor an RLE object")
    polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
    clipped = []
    outline = 0.0
    for k, polygon in enumerate(polygons):
        if not isinstance(polygon, list) or not all(_finite(v) for v in polygon):
            raise GroundTruthProblem(f"{what}: polygon {k} is not a list of finite numbers")
        if len(polygon) % 2:
            raise GroundTruthProblem(f"{what}: polygon {k} has an odd count of numbers ({len(polygon)}); it lists x, y pairs")
        if len(polygon) < 6:
            raise GroundTruthProblem(f"{what}: polygon {k} has {len(polygon) // 2} point(s); a polygon needs at least 3")
        points = clip_polygon(np.asarray(polygon, dtype=np.float64).reshape(-1, 2), width, height)
        if len(points) < 3:
            continue  # wholly outside the image: nothing of it is drawn
        outline += float(np.abs(np.diff(points, axis=0, append=points[:1])).max(axis=1).sum())
        if outline > MAX_OUTLINE * (width + height):
            raise GroundTruthProblem(f"{what}: its polygon outline is over {MAX_OUTLINE} times the image's width + height long;"
                                     " simplify the polygon")
        clipped.append(points.ravel().tolist())
    if not clipped:
        return np.zeros((height, width), dtype=bool)
    from pycocotools import mask as mask_utils

    rles = mask_utils.frPyObjects(clipped, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def clip_polygon(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """An (N, 2) polygon cut to the image and a margin of its width + height on every side
    (Sutherland-Hodgman); the polygon itself, unchanged, when it lies inside that.

    pycocotools draws the outline at 5x, point by point, and keeps what falls inside the image: a polygon
    within the margin is drawn exactly as before, and one reaching far beyond it (coordinates of 4e8)
    costs what an outline of a few image sizes costs. An edge that was cut is drawn from the cut point,
    which can shift the pixels along it by one."""
    margin = float(width + height)
    low = (-margin, -margin)
    high = (width + margin, height + margin)
    if len(points) and (points >= low).all() and (points <= high).all():
        return points
    for axis in (0, 1):
        for bound, keep in ((low[axis], np.greater_equal), (high[axis], np.less_equal)):
            if len(points) == 0:
                return points
            inside = keep(points[:, axis], bound)
            if inside.all():
                continue
            prev = np.roll(points, 1, axis=0)
            prev_inside = np.roll(inside, 1)
            out = []
            for p, q, p_in, q_in in zip(prev, points, prev_inside, inside):
                if q_in != p_in:  # the edge p -> q crosses the bound: where it does
                    t = (bound - p[axis]) / (q[axis] - p[axis])
                    out.append(p + t * (q - p))
                if q_in:
                    out.append(q)
            points = np.asarray(out, dtype=np.float64).reshape(-1, 2)
    return points


def _rle_total(counts: str, what: str) -> int:
    """The pixels a compressed COCO RLE string covers (pycocotools' format: 6 bits a character, runs after
    the first two delta-coded), checked so that its C decoder never sees a run it would misread."""
    runs: list[int] = []
    pos, end = 0, len(counts)
    while pos < end:
        value = shift = 0
        more = True
        while more:
            if pos >= end:
                raise GroundTruthProblem(f"{what}: its RLE counts end inside a run length; the string is cut off")
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                raise GroundTruthProblem(f"{what}: its RLE counts hold {preview(counts[pos])} at {pos}, which is no COCO run length")
            if shift > 30:
                raise GroundTruthProblem(f"{what}: its RLE counts hold a run length longer than 7 characters at {pos}")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            pos += 1
            shift += 5
            if not more and code & 0x10:
                value -= 1 << shift  # negative: the difference to the run two before
        if len(runs) > 2:
            value += runs[-2]
        if not 0 <= value < 2**32:
            raise GroundTruthProblem(f"{what}: its RLE counts hold a run of {value} pixels, which is no run length")
        runs.append(value)
    return sum(runs)


def _decode_rle(rle: dict[str, Any], size: tuple[int, int], what: str) -> np.ndarray:
    """COCO RLE, compressed (``counts`` a string) or not (a list of run lengths, as crowd regions often are):
    its size and run lengths checked against the image's (width, height) before anything is decoded."""
    rle_size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(rle_size, list) and len(rle_size) == 2 and all(type(v) is int and v > 0 for v in rle_size)) \
            or counts is None:
        raise GroundTruthProblem(f"{what}: an RLE mask needs 'size': [height, width] (positive whole numbers) and 'counts'"
                                 f" (its size is {preview(rle_size, 60)})")
    height, width = rle_size
    check_size((height, width), size, f"{what}: the RLE mask")  # before decoding: a 60000x60000 RLE is a few bytes
    if isinstance(counts, list):
        if len(counts) > height * width + 1 or not all(type(c) is int and c >= 0 for c in counts) or sum(counts) != height * width:
            raise GroundTruthProblem(f"{what}: the RLE run lengths do not cover its {width}x{height} pixels")
        from pycocotools import mask as mask_utils

        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    elif isinstance(counts, str):
        total = _rle_total(counts, what)
        if total != height * width:
            raise GroundTruthProblem(f"{what}: its RLE counts cover {total} pixels, not its {width}x{height} = {height * width}")
        rle = {"size": [height, width], "counts": counts}
    else:
        raise GroundTruthProblem(f"{what}: RLE 'counts' is a {type(counts).__name__}, expected a string or a list of run lengths")
    try:
        return decode_mask(rle)
    except Exception as exc:  # pycocotools raises bare Exceptions on garbled counts
        raise GroundTruthProblem(f"{what}: its RLE counts cannot be decoded ({exception_text(exc, 120)})") from exc
