"""Ground truth, whatever its format: the readers by name, and the one call that opens any of them.

Three readers, one module each: COCO instance annotations (``coco``), a folder of instance mask PNGs
(``instance_pngs``) and semantic class-id PNGs with a class-name file (``semantic``). Each opens
its source once (checking what can be checked without decoding masks) and decodes one image's masks
only when that image is scored. Ground truth is untrusted input like detections: every file is read
through ``segkit.input_files`` (a regular file, at most ``limits.max_ground_truth_bytes``), and an
image's ground truth is drawn only after its size (``limits.max_image_pixels``) and its number of
instances (``limits.max_ground_truth_instances``) are checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from segkit.config import LimitSettings
from segkit.errors import InputError
from segkit.evaluation.ground_truth.base import GroundTruth
from segkit.input_files import kind_of
from segkit.text import preview

FORMATS = ("auto", "coco", "instance-pngs", "semantic")


def open_ground_truth(path: Path, fmt: str = "auto", classes: Path | None = None, limits: LimitSettings | None = None) -> GroundTruth:
    """The ground-truth reader for ``path``: a COCO JSON file, or a folder of instance or semantic PNGs.

    ``auto`` picks COCO for a file, semantic for a folder when a class-name file is given, instance PNGs
    for any other folder. Raises InputError (one line) when the source cannot be read at all: missing,
    neither a regular file nor a folder (a FIFO, a device), or beyond ``limits``.
    """
    limits = limits or LimitSettings()
    if fmt not in FORMATS:
        raise InputError(f"unknown ground-truth format {preview(fmt)}; use one of: {', '.join(FORMATS)}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"ground truth {path} does not exist; pass --gt a COCO JSON file or a folder of mask PNGs") from None
    except OSError as exc:
        raise InputError(f"cannot read ground truth {path} ({exc.strerror or exc}); check the path and its permissions") from None
    is_dir = stat.S_ISDIR(mode)
    if not is_dir and not stat.S_ISREG(mode):
        raise InputError(f"ground truth {path} is {kind_of(mode)}, neither a COCO JSON file nor a folder of mask PNGs;"
                         " pass --gt one of those")
    if fmt == "auto":
        fmt = "coco" if not is_dir else "semantic" if classes is not None else "instance-pngs"
    if fmt == "coco":
        if is_dir:
            raise InputError(f"ground truth {path} is a folder, but COCO ground truth is one JSON file; pass the file")
        from segkit.evaluation.ground_truth.coco import CocoGroundTruth

        return CocoGroundTruth.open(path, limits)
    if not is_dir:
        raise InputError(f"ground truth {path} is a file, but {fmt} ground truth is a folder of PNGs; pass the folder")
    if fmt == "semantic":
        from segkit.evaluation.ground_truth.semantic import SemanticGroundTruth

        return SemanticGroundTruth.open(path, classes, limits)
    if classes is not None:
        raise InputError("--gt-classes names the classes of semantic masks; instance PNGs have none (drop it, or pass --gt-format semantic)")
    from segkit.evaluation.ground_truth.instance_pngs import InstancePngGroundTruth

    return InstancePngGroundTruth.open(path, limits)
