"""``--format labelstudio``: tasks with the masks as predictions, to import into Label Studio and correct.

    tasks.json          a list of tasks: ``data.image`` (the image's URL: ``--image-url`` + its file name) and
                        one prediction (``model_version`` "segkit <backend>") whose ``result`` holds a
                        ``brushlabels`` region per mask, in Label Studio's own RLE (label-studio-sdk's brush
                        encoder; COCO RLE is not what its importer reads)
    label_config.xml    the labelling interface those predictions belong to (paste it into the project's
                        Labeling Setup): an Image named ``image`` and BrushLabels named ``label`` with every class
    images/             the images, unless --image-files none (then --image-url points at where they are)

The default URL, ``/data/local-files/?d=images/``, is Label Studio's local file serving with the dataset
folder as ``LOCAL_FILES_DOCUMENT_ROOT``; give ``--image-url https://bucket.example/imgs/`` for a web server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np

from segkit.export.formats import Parts, Writer, json_items, write_streamed
from segkit.export.libraries import need
from segkit.export.source import ExportImage

DEFAULT_IMAGE_URL = "/data/local-files/?d=images/"
FROM_NAME, TO_NAME = "label", "image"


def brush_rle(mask: np.ndarray) -> list[int]:
    """A (H, W) bool mask in Label Studio's brush RLE (label-studio-sdk's encoder, the alpha channel at 255)."""
    brush = need("label_studio_sdk.converter.brush", "--format labelstudio")
    return [int(v) for v in brush.mask2rle(mask.astype(np.uint8) * 255)]


def label_config(classes: list[str]) -> str:
    labels = "".join(f"    <Label value={quoteattr(name)}/>\n" for name in classes)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <BrushLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}  </BrushLabels>\n</View>\n')


class LabelStudioWriter(Writer):
    name = "labelstudio"
    owned = ("images", "tasks.json", "label_config.xml")
    splits = False
    images_needed = False
    requires = ("label_studio_sdk.converter.brush",)

    def write_image(self, image: ExportImage, split: str, file_name: str) -> dict[str, Any]:
        result = []
        for k, obj in enumerate(image.objects):
            result.append({
                "id": f"{k + 1}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "brushlabels",
                "original_width": image.width, "original_height": image.height, "image_rotation": 0,
                "value": {"format": "rle", "rle": brush_rle(image.masks.dense(obj.index)), "brushlabels": [obj.class_name]},
                "score": min(max(obj.score, 0.0), 1.0),
            })
        scores = [r["score"] for r in result]
        task = {"data": {TO_NAME: self.options["image_url"] + quote(file_name), "segkit_image": image.stem},
                "predictions": [{"model_version": f"segkit {self.options['backend']}",
                                 "score": round(sum(scores) / len(scores), 6) if scores else 0.0, "result": result}]}
        return {"task": task}

    def finish(self, parts: Parts, counts: dict[str, int]) -> list[Path]:
        tasks, config = self.root / "tasks.json", self.root / "label_config.xml"
        write_streamed(tasks, json_items(part["task"] for part in parts(None)))
        write_streamed(config, [label_config(self.classes)])
        return [tasks, config]
