"""Ground truth written as a user would write it, for datasets of 128 x 64 images with integer boxes.

Boxes have integer corners, so the mock backends' masks are exact (``mock`` fills the box, ``mock-ellipse``
its inscribed ellipse) and every IoU against ground truth can be computed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_helpers import qwen_det, write_qwen, write_rgb
from PIL import Image

SIZE = (128, 64)


def rect_polygon(box) -> list[float]:
    x1, y1, x2, y2 = box
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def rect_mask(box, size=SIZE) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = np.zeros((size[1], size[0]), dtype=bool)
    out[y1:y2, x1:x2] = True
    return out


def rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    coded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in coded["size"]], "counts": coded["counts"].decode("ascii")}


def write_images(cli, dataset: dict, size=SIZE) -> None:
    """dataset: stem -> [(box, label, confidence)]; one random image and one Qwen JSON file per stem."""
    for i, (stem, entries) in enumerate(dataset.items()):
        write_rgb(cli.images / f"{stem}.png", size, seed=i)
        write_qwen(cli.dets / f"{stem}.json", [qwen_det(box, size, label, conf) for box, label, conf in entries])


def write_coco(path: Path, truth: dict, size=SIZE, as_rle: bool = False) -> Path:
    """truth: stem -> [(shape, category)], a shape being a box (tuple), a polygon (list) or a mask (array);
    a box is written as a polygon, or as RLE with ``as_rle``."""
    categories = sorted({c for items in truth.values() for _, c in items})
    cat_id = {c: i for i, c in enumerate(categories, start=1)}
    images, annotations = [], []
    for image_id, (stem, items) in enumerate(truth.items(), start=1):
        images.append({"id": image_id, "file_name": f"{stem}.png", "width": size[0], "height": size[1]})
        for shape, category in items:
            if isinstance(shape, np.ndarray):
                segmentation = rle(shape)
            elif isinstance(shape, tuple):
                segmentation = rle(rect_mask(shape, size)) if as_rle else [rect_polygon(shape)]
            else:
                segmentation = [list(shape)]
            annotations.append({"id": 100 + len(annotations), "image_id": image_id, "category_id": cat_id[category],
                                "segmentation": segmentation, "iscrowd": 0})
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": i, "name": c} for c, i in cat_id.items()]}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def write_png(path: Path, values: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8)).save(path)
    return path


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def row(doc: dict, backend: str, baseline: bool = False) -> dict:
    return next(r for r in doc["per_backend"] if r["backend"] == backend and r["baseline"] == baseline)


def label_row(doc: dict, label: str, backend: str, baseline: bool = False) -> dict:
    return next(r for r in doc["per_label"] if r["label"] == label and r["backend"] == backend and r["baseline"] == baseline)


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())
