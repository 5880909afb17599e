"""Ground truth, whatever its format: the readers by name, and the one call that opens any of them.

Three readers, one module each: COCO instance annotations (``coco``), a folder of instance mask PNGs
(``instance_pngs``) and semantic class-id PNGs with a class-name file (``semantic``). Each opens
its source once (checking what can be checked without decoding masks) and decodes one image's masks
only when that image is scored.
"""

from __future__ import annotations

from pathlib import Path

from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import GroundTruth

FORMATS = ("auto", "coco", "instance-pngs", "semantic")


def open_ground_truth(path: Path, fmt: str = "auto", classes: Path | None = None) -> GroundTruth:
    """The ground-truth reader for ``path``: a COCO JSON file, or a folder of instance or semantic PNGs.

    ``auto`` picks COCO for a file, semantic for a folder when a class-name file is given, instance PNGs
    for any other folder. Raises InputError (one line) when the source cannot be read at all.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown ground-truth format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if not path.exists():
        raise InputError(f"ground truth {path} does not exist; pass --gt a COCO JSON file or a folder of mask PNGs")
    if fmt == "auto":
        fmt = "coco" if path.is_file() else "semantic" if classes is not None else "instance-pngs"
    if fmt == "coco":
        if not path.is_file():
            raise InputError(f"ground truth {path} is a folder, but COCO ground truth is one JSON file; pass the file")
        from segkit.evaluation.ground_truth.coco import CocoGroundTruth

        return CocoGroundTruth.open(path)
    if not path.is_dir():
        raise InputError(f"ground truth {path} is a file, but {fmt} ground truth is a folder of PNGs; pass the folder")
    if fmt == "semantic":
        from segkit.evaluation.ground_truth.semantic import SemanticGroundTruth

        return SemanticGroundTruth.open(path, classes)
    if classes is not None:
        raise InputError("--gt-classes names the classes of semantic masks; instance PNGs have none (drop it, or pass --gt-format semantic)")
    from segkit.evaluation.ground_truth.instance_pngs import InstancePngGroundTruth

    return InstancePngGroundTruth.open(path)
