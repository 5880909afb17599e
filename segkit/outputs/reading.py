"""Reading outputs back: records, masks (PNG file or RLE), and whether an image's outputs are complete.

Everything read is checked: a file that is not what segkit wrote is an ``OutputFileError`` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from pydantic import ValidationError

from segkit.errors import InputError
from segkit.inputs.detections import Detection
from segkit.outputs.files import is_temp_file
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_png import decode_mask_png as fast_decode_mask_png
from segkit.outputs.mask_png import looks_whole
from segkit.outputs.mask_set import MaskSet, decode_mask
from segkit.outputs.records import RECORD_VERSION, Answer, BackendRecord, ConceptRecord, ImageRecord, InstanceRecord

AskedConcepts = Callable[[Sequence[Detection]], list[ConceptRecord]]  # an image's detections -> its concepts


def read_mask(path: Path) -> np.ndarray:
    """A mask PNG back as (H, W) bool."""
    data = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if data is None:
        raise OSError(f"cannot read mask {path}")
    return data > 127


class OutputFileError(Exception):
    """An output file that cannot be used: unreadable, not what segkit wrote, or the wrong size."""


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _validation_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "the top level"
    return f"{where}: {err['msg']}"


def load_backend_record(path: Path) -> BackendRecord:
    """A backend record, or OutputFileError saying why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutputFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return BackendRecord.model_validate_json(data)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise OutputFileError(f"{path} is not valid JSON ({exc.errors()[0]['msg']})") from exc
        raise OutputFileError(f"{path} is not a segkit backend record ({_validation_line(exc)})") from exc


def load_image_record(path: Path) -> ImageRecord | None:
    """An image record, or None when it is missing or not one."""
    try:
        return ImageRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def decode_mask_png(data: bytes, path: Path, size: tuple[int, int]) -> np.ndarray:
    fast = fast_decode_mask_png(data)  # segkit's own 1-bit PNGs; anything else through OpenCV
    mask = fast if fast is not None else cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if mask is None:
        raise OutputFileError(f"mask {path} cannot be decoded as an image")
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise OutputFileError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its record says the image is {size[0]}x{size[1]}")
    return fast if fast is not None else mask > 127


def load_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as (H, W) bool, checked against the (width, height) its record gives."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutputFileError(f"mask {path} is missing" if not path.exists() else f"cannot read mask {path}: {exc}") from exc
    return decode_mask_png(data, path, size)


def load_answer_mask(layout: OutputLayout, answer: Answer, size: tuple[int, int]) -> np.ndarray:
    """One answer's mask as (H, W) bool, from its PNG file or its RLE."""
    if answer.rle is not None:
        if tuple(answer.rle.size) != (size[1], size[0]):
            raise OutputFileError(f"the RLE mask of detection {answer.id} is {answer.rle.size[1]}x{answer.rle.size[0]},"
                                  f" its record says the image is {size[0]}x{size[1]}")
        try:
            return decode_mask(answer.rle.model_dump())
        except Exception as exc:  # pycocotools' own errors for garbled counts
            raise OutputFileError(f"the RLE mask of detection {answer.id} cannot be decoded ({exc})") from exc
    if not answer.mask:
        raise OutputFileError(f"detection {answer.id} has neither a mask file nor an RLE mask")
    return load_mask(layout.root / answer.mask, size)


def load_answer_masks(layout: OutputLayout, record: BackendRecord) -> tuple[list[int], MaskSet]:
    """Every answered mask of a backend record as (detection ids, MaskSet), whatever their storage."""
    ids: list[int] = []
    masks = MaskSet.empty(record.height, record.width)
    for answer in record.answers:
        masks.add(load_answer_mask(layout, answer, record.size))
        ids.append(answer.id)
    return ids, masks


def load_instance_mask(layout: OutputLayout, instance: InstanceRecord, size: tuple[int, int]) -> np.ndarray:
    """One instance's mask as (H, W) bool, from its PNG file or its RLE."""
    if instance.rle is not None:
        if tuple(instance.rle.size) != (size[1], size[0]):
            raise OutputFileError(f"the RLE mask of instance {instance.id} is {instance.rle.size[1]}x{instance.rle.size[0]},"
                                  f" its record says the image is {size[0]}x{size[1]}")
        try:
            return decode_mask(instance.rle.model_dump())
        except Exception as exc:  # pycocotools' own errors for garbled counts
            raise OutputFileError(f"the RLE mask of instance {instance.id} cannot be decoded ({exc})") from exc
    if not instance.mask:
        raise OutputFileError(f"instance {instance.id} has neither a mask file nor an RLE mask")
    return load_mask(layout.root / instance.mask, size)


def load_instance_masks(layout: OutputLayout, record: BackendRecord) -> MaskSet:
    """Every instance mask of a concept backend's record, in instance order, whatever their storage."""
    masks = MaskSet.empty(record.height, record.width)
    for instance in record.instances:
        masks.add(load_instance_mask(layout, instance, record.size))
    return masks


def find_backend_records(layout: OutputLayout) -> dict[str, dict[str, Path]]:
    """Every backend record in the folder: backend -> stem -> path."""
    found: dict[str, dict[str, Path]] = {}
    if not layout.backends_dir.is_dir():
        return found
    for folder in sorted(p for p in layout.backends_dir.iterdir() if p.is_dir()):
        records = {p.name[: -len(".json")]: p for p in folder.iterdir()
                   if p.name.endswith(".json") and not is_temp_file(p.name) and p.is_file()}
        if records:
            found[folder.name] = dict(sorted(records.items()))
    return found


def _file_is_whole(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if path.suffix == ".png":
        return looks_whole(data)
    if path.suffix == ".json":
        try:
            json.loads(data)
        except (ValueError, RecursionError):
            return False
    return True


def complete_record(layout: OutputLayout, stem: str, backends: list[str], conf: float,
                    concepts: AskedConcepts | None = None) -> ImageRecord | None:
    """The image record when an earlier run (or compare) already holds every output this run would write.

    Complete means: the image record is current, was made at the same --conf, has an answer from every
    backend of this run (other backends, merged in from elsewhere, may be there too), none of them
    failed, every concept backend was asked the concepts this run would ask (``concepts`` works them out
    from the record's detections: other phrases redo the image), and every file it lists exists and is
    whole (a truncated or garbled mask redoes the image).
    """
    record = load_image_record(layout.json_path(stem))
    if record is None or record.version != RECORD_VERSION or record.conf_threshold != conf:
        return None
    if any(name not in record.backends or name in record.failed_backends for name in backends):
        return None
    if concepts is not None and record.concepts:
        detections = [Detection(d.id, d.label, tuple(d.bbox_xyxy_px), d.confidence, {}) for d in record.detections]  # type: ignore[arg-type]
        asked = concepts(detections)
        if any(record.concepts.get(name, asked) != asked for name in backends):
            return None
    if not all(_file_is_whole(layout.root / rel) for rel in record.files):
        return None
    return record


def is_complete(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> bool:
    """True when an earlier run wrote every output this run would write for the image."""
    return complete_record(layout, stem, backends, conf) is not None


def backend_order(layout: OutputLayout, found: Sequence[str], requested: Sequence[str]) -> list[str]:
    """The backends to compare: as requested, else those of the folder's last report in its order, then the rest by name."""
    if requested:
        order: list[str] = []
        for name in requested:
            if name not in found:
                listing = ", ".join(found)
                raise InputError(f"backend {name!r} has no records in {layout.backends_dir} (it has: {listing}); pass one of those to --backend")
            if name not in order:
                order.append(name)
        return order
    previous = read_record(layout.report_json_path) or {}
    listed = previous.get("backends") if isinstance(previous.get("backends"), list) else []
    order = [name for name in listed if isinstance(name, str) and name in found]
    return order + sorted(name for name in found if name not in order)
