"""Reading outputs back: records, masks (PNG file or RLE), and whether an image's outputs are complete.

Everything read is checked: a file that is not what segkit wrote is an ``OutputFileError`` naming it.
Records are input too (merged from another machine, edited by hand): a path a record names is resolved
by ``output_file``, inside its folder of the output folder or not at all, and every file is read as a
regular file of bounded size (``read_output``), so that a record naming ``/dev/zero``, ``../../etc`` or a
symlink out of the folder makes its image a problem of its own and reads nothing outside the folder.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from pydantic import ValidationError

from segkit import storage
from segkit.config import LimitSettings
from segkit.errors import InputError, one_line
from segkit.input_files import FileKind, kind_of, too_big
from segkit.input_files import read_limited as _read_limited
from segkit.inputs.detections import Detection
from segkit.outputs.files import is_temp_file
from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_png import IEND_CHUNK, PNG_SIGNATURE, looks_whole
from segkit.outputs.mask_png import decode_mask_png as fast_decode_mask_png
from segkit.outputs.mask_set import MaskSet, decode_mask
from segkit.outputs.records import RECORD_VERSION, Answer, BackendRecord, ConceptRecord, ImageRecord, InstanceRecord
from segkit.storage import is_remote
from segkit.text import preview

MAX_RECORD_BYTES = 256 * 2**20  # a record of 10,000 detections is a few MB
DEFAULT_MAX_PIXELS: int = LimitSettings.model_fields["max_image_pixels"].default
AskedConcepts = Callable[[Sequence[Detection]], list[ConceptRecord]]  # an image's detections -> its concepts


def read_mask(path: Path) -> np.ndarray:
    """A mask PNG back as (H, W) bool."""
    data = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if data is None:
        raise OSError(f"cannot read mask {path}")
    return data > 127


class OutputFileError(Exception):
    """An output file that cannot be used: unreadable, not what segkit wrote, or the wrong size."""


OUTPUT_FILE = FileKind("a file segkit wrote", "re-run the image (`segkit run --force`) or rebuild the folder (`segkit compare`)",
                       "", OutputFileError)


def read_output(path: Path, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of an output file: a regular file of at most ``max_bytes`` (a FIFO, a device or a file
    above it is refused unread), else OutputFileError naming it."""
    if is_remote(path):  # an object store: no FIFOs or devices there, its size from the object's metadata
        try:
            data = storage.read_limited(path, max_bytes)
        except Exception as exc:  # the store's own errors (missing object, credentials)
            raise OutputFileError(f"cannot read {path}: {one_line(exc, 200)}") from None
        if data is None:
            raise too_big(path, path.fs.size(path.path), max_bytes, OUTPUT_FILE)
        return data
    try:
        return _read_limited(path, max_bytes, OUTPUT_FILE)
    except OutputFileError:
        raise
    except Exception as exc:  # the reader's own kinds, should it raise one
        raise OutputFileError(str(exc)) from None


def output_file(layout: OutputLayout, rel: Any, folder: Path, what: str) -> Path:
    """The file at ``rel`` (a path a record names, relative to the output folder) when it lies inside
    ``folder`` of the output folder, symlinks resolved, and is a regular file; else OutputFileError.

    An absolute path, a '..', a backslash or a drive, a symlink leading out of ``folder``, or a FIFO or a
    device is refused without reading it: records come from merged and edited folders too."""
    text = rel if isinstance(rel, str) else ""
    inside = f"{layout.relative(folder)}/"
    parts = PurePosixPath(text).parts
    if (not text or "\x00" in text or "\\" in text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive
            or ".." in parts or not text.startswith(inside)):
        raise OutputFileError(f"{what} {preview(rel)} is not a path inside {inside} of {layout.root}")
    path = layout.root / text
    if is_remote(path):  # an object store has no symlinks, FIFOs or devices: the name is all there is
        return path
    real, base = os.path.realpath(path), os.path.realpath(folder)
    if os.path.commonpath([real, base]) != base:
        raise OutputFileError(f"{what} {preview(rel)} leads out of {inside} (a symlink to {preview(real)})")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        raise OutputFileError(f"{what} {path} is missing") from None
    except OSError as exc:
        raise OutputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    kind = kind_of(mode)
    if kind is not None:
        raise OutputFileError(f"{what} {path} is {kind}, not a file segkit wrote")
    return path


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_output(path))
    except (OutputFileError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _validation_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "the top level"
    return f"{where}: {err['msg']}"


def load_backend_record(path: Path) -> BackendRecord:
    """A backend record, or OutputFileError saying why it cannot be used."""
    data = read_output(path)
    try:
        return BackendRecord.model_validate_json(data)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise OutputFileError(f"{path} is not valid JSON ({exc.errors()[0]['msg']})") from exc
        raise OutputFileError(f"{path} is not a segkit backend record ({_validation_line(exc)})") from exc


def load_image_record(path: Path) -> ImageRecord | None:
    """An image record, or None when it is missing or not one."""
    try:
        return ImageRecord.model_validate_json(read_output(path))
    except (OutputFileError, ValidationError):
        return None


def _stored_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image file from its header, before any decoder sees it; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image Pillow knows: OpenCV says so below
        return None


def decode_mask_png(data: bytes, path: Path, size: tuple[int, int]) -> np.ndarray:
    stored = _stored_size(data)
    if stored is not None and stored != tuple(size):  # before decoding: a 60000x60000 PNG is a few KB
        raise OutputFileError(f"mask {path} is {stored[0]}x{stored[1]} but its record says the image is {size[0]}x{size[1]}")
    fast = fast_decode_mask_png(data)  # segkit's own 1-bit PNGs; anything else through OpenCV
    mask = fast if fast is not None else cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if mask is None:
        raise OutputFileError(f"mask {path} cannot be decoded as an image")
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise OutputFileError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its record says the image is {size[0]}x{size[1]}")
    return fast if fast is not None else mask > 127


def load_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as (H, W) bool, checked against the (width, height) its record gives; read bounded (a
    regular file, at most 4 bytes a pixel, more than any mask PNG takes)."""
    return decode_mask_png(read_output(path, 4 * size[0] * size[1] + 2**20), path, size)


def load_answer_mask(layout: OutputLayout, answer: Answer, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One answer's mask as (H, W) bool, from its PNG file (which must lie in ``OUT/masks/``) or its RLE;
    a record whose image is above ``max_pixels`` (``limits.max_image_pixels``) is refused before either."""
    return _stored_mask(layout, answer.rle, answer.mask, f"detection {answer.id}", size, max_pixels)


def load_answer_masks(layout: OutputLayout, record: BackendRecord) -> tuple[list[int], MaskSet]:
    """Every answered mask of a backend record as (detection ids, MaskSet), whatever their storage."""
    ids: list[int] = []
    masks = MaskSet.empty(record.height, record.width)
    for answer in record.answers:
        masks.add(load_answer_mask(layout, answer, record.size))
        ids.append(answer.id)
    return ids, masks


def load_instance_mask(layout: OutputLayout, instance: InstanceRecord, size: tuple[int, int],
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One instance's mask as (H, W) bool, from its PNG file (which must lie in ``OUT/masks/``) or its RLE."""
    return _stored_mask(layout, instance.rle, instance.mask, f"instance {instance.id}", size, max_pixels)


def _stored_mask(layout: OutputLayout, rle, mask: str | None, what: str, size: tuple[int, int], max_pixels: int) -> np.ndarray:
    """A mask a record names (``what``: "detection 3", "instance 2"), checked against the record's image size."""
    if size[0] * size[1] > max_pixels:
        raise OutputFileError(f"its record says the image is {size[0]}x{size[1]}, above limits.max_image_pixels ({max_pixels});"
                              " its masks are not read")
    if rle is not None:
        if tuple(rle.size) != (size[1], size[0]):
            raise OutputFileError(f"the RLE mask of {what} is {rle.size[1]}x{rle.size[0]},"
                                  f" its record says the image is {size[0]}x{size[1]}")
        try:
            return decode_mask(rle.model_dump())
        except Exception as exc:  # pycocotools' own errors for garbled counts
            raise OutputFileError(f"the RLE mask of {what} cannot be decoded ({exc})") from exc
    if not mask:
        raise OutputFileError(f"{what} has neither a mask file nor an RLE mask")
    return load_mask(output_file(layout, mask, layout.masks_dir, f"the mask of {what}"), size)


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


def _file_is_whole(layout: OutputLayout, rel: str) -> bool:
    """Whether a file a record lists lies in the output folder's masks/, backends/, viz/ or html/ (the page's
    preview), is a regular file, and is whole (a PNG: its signature and IEND trailer, read without the rest;
    a JSON file: parsed)."""
    folders = {"masks": layout.masks_dir, "backends": layout.backends_dir, "viz": layout.viz_dir, "html": layout.html_dir}
    try:
        folder = folders[PurePosixPath(rel).parts[0]]
        path = output_file(layout, rel, folder, "the file")
        if path.suffix == ".png" and is_remote(path):  # an object: read whole, as there is no seeking to its end cheaply
            return looks_whole(read_output(path, 2**30))
        if path.suffix == ".png":
            with open(path, "rb") as handle:
                head = handle.read(len(PNG_SIGNATURE))
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - len(IEND_CHUNK)))
                return looks_whole(head + handle.read(len(IEND_CHUNK)))
        data = read_output(path)
    except (OutputFileError, OSError, IndexError, KeyError, TypeError):
        return False
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
    if not all(_file_is_whole(layout, rel) for rel in record.files):
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
