"""``--format cvat``: a dataset CVAT imports with its "COCO 1.0" format (Upload annotations / Import dataset).

    annotations/instances_default.json   COCO, as --format coco writes it, polygons by default (CVAT edits
                                         polygons; ``--coco-masks rle`` gives CVAT masks instead)
    images/                              the images, by the file names the annotations give
    labels.json                          the classes for CVAT's label constructor (Raw): CVAT imports
                                         annotations only for labels its task already has

CVAT's native "CVAT for images 1.1" XML is written by datumaro, CVAT's own dataset framework; datumaro
1.13 pins ``pandas~=2.3`` and ``pyarrow~=25.0``, which would downgrade the pandas 3 and pyarrow 26 that
segkit[ray] runs on, so segkit writes COCO 1.0, which CVAT imports as well.
"""

from __future__ import annotations

from pathlib import Path

from segkit.export.formats import Parts, write_streamed
from segkit.export.formats.coco import CocoWriter, json_items_text

CVAT_COLORS = ("#fa3253", "#33ddff", "#34d1b7", "#ff007c", "#ddff33", "#24b353", "#b83df5", "#66ff66", "#32b7fa", "#ffcc33")


class CvatWriter(CocoWriter):
    name = "cvat"
    owned = ("images", "annotations", "labels.json")
    splits = False
    images_needed = False

    def annotations_path(self, split: str) -> Path:
        return self.root / "annotations" / "instances_default.json"

    def finish(self, parts: Parts, counts: dict[str, int]) -> list[Path]:
        path = self.annotations_path("default")
        write_streamed(path, self.document(parts, None))
        labels = self.root / "labels.json"
        shape = "polygon" if self.options["coco_masks"] == "polygon" else "mask"
        write_streamed(labels, [json_items_text([{"name": name, "color": CVAT_COLORS[i % len(CVAT_COLORS)], "type": shape,
                                                  "attributes": []} for i, name in enumerate(self.classes)]) + "\n"])
        return [path, labels]
