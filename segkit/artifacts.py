"""The one place that names, writes and reads back output files. Every file is written atomically.

    OUT/backends/<backend>/<stem>.json                     backend record: one backend's answers for one image
    OUT/masks/<stem>/det<NN>_<label>_<backend>.png         binary mask (1-bit PNG), full resolution
    OUT/json/<stem>.json                                   image record: the backend records combined, pair IoUs
    OUT/viz/<stem>_panel.jpg                               original | overlay per backend | diff
    OUT/report.json, OUT/report.csv                        the dataset report of the last run or compare
    OUT/eval.json, OUT/eval.csv                            every backend scored against ground truth (segkit eval, run --gt)
    OUT/coco/<backend>.json                                every mask of a backend as COCO RLE annotations (--coco)
    OUT/failures.json                                      what failed in the last run, and why

`segkit detect` writes a folder of its own, the detections that `segkit run --detections` reads:

    DETECTIONS/<stem>.json                                 one image's boxes in the seed plan's Qwen JSON
    DETECTIONS/unreadable/<stem>.txt                       an answer no box could be read from, kept to look at

Backend records and masks are named by backend, so folders written by runs with different backends
(on different machines) merge by plain copying; the rest is rebuilt from them by `segkit compare`.
Masks live in one folder per image, so no two images can name the same file (image stems are unique
in a run, detection ids within an image, backend names contain no '_').

Files get the mode the user's umask allows, as ``open`` gives (mkstemp's 0600 would hide them from
the user's group). One process at a time writes to a folder: ``OutputLock`` holds ``OUT/.segkit.lock``.

OUT may also be an object-store URL (``s3://bucket/prefix``, see ``segkit.storage``): the same names
under the prefix, each object written whole in one request (atomic on S3), no folders to make, no
temporary files, and no lock (object stores have none: do not point two runs at one prefix).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
from pydantic import BaseModel, ValidationError

from segkit.errors import InputError, SegkitError
from segkit.mask_png import decode_mask_png as fast_decode_mask_png, encode_mask_png, looks_whole
from segkit.mask_set import MaskSet, decode_mask
from segkit.record import RECORD_VERSION, Answer, BackendRecord, ImageRecord
from segkit.storage import is_remote, write_object

TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".segkit.lock"
# A temporary file of segkit's own: ".<target name>.segkit-<pid>-<n>.tmp". Only names of this shape, in the
# folders segkit writes, are ever removed: a user's own ".notes.tmp" beside the outputs is not ours.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.segkit-\d+-\d+\.tmp")


def safe_label(label: str, limit: int = 40) -> str:
    """A label usable in a file name: letters and digits of any script kept, the rest to '_'."""
    text = unicodedata.normalize("NFC", label)
    text = "".join(c if c.isalnum() or c == "-" else "_" for c in text)
    text = re.sub(r"_+", "_", text).strip("_-")
    return text[:limit] or "item"


class OutputLayout:
    def __init__(self, root: Path):
        self.root = root
        self.json_dir = root / "json"
        self.masks_dir = root / "masks"
        self.viz_dir = root / "viz"
        self.backends_dir = root / "backends"
        self.coco_dir = root / "coco"

    def create(self) -> None:
        if is_remote(self.root):  # object stores have no folders; check_location checked the bucket
            return
        for folder in (self.json_dir, self.masks_dir, self.viz_dir, self.backends_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create output folder {folder}: {exc.strerror or exc}; pass --out a folder you can write to"
                ) from exc

    def backend_record_path(self, backend: str, stem: str) -> Path:
        return self.backends_dir / backend / f"{stem}.json"

    def json_path(self, stem: str) -> Path:
        return self.json_dir / f"{stem}.json"

    def mask_path(self, stem: str, det_id: int, label: str, backend: str) -> Path:
        return self.masks_dir / stem / f"det{det_id:02d}_{safe_label(label)}_{backend}.png"

    def panel_path(self, stem: str) -> Path:
        return self.viz_dir / f"{stem}_panel.jpg"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.json"

    @property
    def report_json_path(self) -> Path:
        return self.root / "report.json"

    @property
    def report_csv_path(self) -> Path:
        return self.root / "report.csv"

    @property
    def eval_json_path(self) -> Path:
        return self.root / "eval.json"

    @property
    def eval_csv_path(self) -> Path:
        return self.root / "eval.csv"

    @property
    def report_html_path(self) -> Path:
        return self.root / "report.html"

    @property
    def html_dir(self) -> Path:
        """The HTML report's pictures (segkit.html_report.assets names the files in it)."""
        return self.root / "html"

    def coco_path(self, backend: str) -> Path:
        return self.coco_dir / f"{backend}.json"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def unusable_stem(stem: str) -> str | None:
    """Why an image's name cannot name its outputs, or None. (``..png`` has the stem '.'.)"""
    if stem in (".", "..") or not stem:
        return f"its name stem {stem!r} cannot name a folder; rename the image"
    return None


def detection_file_path(folder: Path, stem: str) -> Path:
    """Where `segkit detect` writes an image's detections (and `segkit run` finds them by stem)."""
    return folder / f"{stem}.json"


def unreadable_answer_path(folder: Path, stem: str) -> Path:
    """Where `segkit detect` keeps an answer it could not read (in a subfolder: `segkit run` skips it)."""
    return folder / "unreadable" / f"{stem}.txt"


_temp_names = itertools.count()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place: no half-written files.

    The temporary name is unique to this process and call (no random names to draw: a mask is written
    per detection and backend, so this is on the hot path), and the file is created with mode 0666 less
    the umask, as ``open`` would. On an object store the object is written whole instead."""
    if not isinstance(path, Path):
        write_object(path, data)
        return
    tmp = path.parent / f".{path.name[:100]}.segkit-{os.getpid()}-{next(_temp_names)}{TEMP_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """The same data with NaN and infinities replaced by null (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


finite = _finite  # public: the HTML report's embedded data goes through it too


def json_bytes(data: Any) -> bytes:
    """Strict JSON (no NaN / Infinity), UTF-8, indented; pydantic models are dumped as JSON."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    try:
        text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError:  # a non-finite number from the input: null, never a bare NaN
        text = json.dumps(_finite(data), ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json_bytes(data))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UTF-8 CSV with a header row; None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def write_mask(path: Path, mask: np.ndarray) -> None:
    atomic_write_bytes(path, encode_mask_png(mask))


def read_mask(path: Path) -> np.ndarray:
    """A mask PNG back as (H, W) bool."""
    data = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if data is None:
        raise OSError(f"cannot read mask {path}")
    return data > 127


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError("JPEG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


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


def is_temp_file(name: str) -> bool:
    """A temporary file that segkit's ``atomic_write_bytes`` made (by its marked name)."""
    return _TEMP_NAME.fullmatch(name) is not None


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


def complete_record(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> ImageRecord | None:
    """The image record when an earlier run (or compare) already holds every output this run would write.

    Complete means: the image record is current, was made at the same --conf, has an answer from every
    backend of this run (other backends, merged in from elsewhere, may be there too), none of them
    failed, and every file it lists exists and is whole (a truncated or garbled mask redoes the image).
    """
    record = load_image_record(layout.json_path(stem))
    if record is None or record.version != RECORD_VERSION or record.conf_threshold != conf:
        return None
    if any(name not in record.backends or name in record.failed_backends for name in backends):
        return None
    if not all(_file_is_whole(layout.root / rel) for rel in record.files):
        return None
    return record


def is_complete(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> bool:
    """True when an earlier run wrote every output this run would write for the image."""
    return complete_record(layout, stem, backends, conf) is not None


def remove_stale_temp_files(layout: OutputLayout) -> None:
    """Temporary files left by a run that was killed before it could rename them.

    Only segkit's own: a file whose name has segkit's temporary mark, that is a regular file (not a
    link), in a folder segkit writes (the output root, its own subfolders and one level below them).
    Nothing else under --out is looked at, so ``--out .`` never touches the user's files.
    Call only while holding the folder's ``OutputLock``: then no other segkit process is writing here."""
    if is_remote(layout.root) or not layout.root.is_dir():
        return
    folders = [layout.root]
    for own in (layout.json_dir, layout.viz_dir, layout.coco_dir, layout.html_dir, layout.masks_dir, layout.backends_dir):
        if own.is_dir() and not own.is_symlink():
            folders.append(own)
            folders.extend(p for p in own.iterdir() if p.is_dir() and not p.is_symlink())
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if is_temp_file(entry.name) and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)


class OutputFolderBusy(SegkitError):
    """Another segkit process is writing to the same output folder."""


class OutputLock:
    """An exclusive lock on an output folder for the life of a run or compare (``OUT/.segkit.lock``).

    Advisory (flock): it keeps two segkit processes from writing one folder at once, and releases by
    itself if the process dies. Where flock is not available (Windows), and on an object store (which has
    no locks), it does nothing."""

    _held: set[str] = set()
    _guard = threading.Lock()

    def __init__(self, root: Path):
        self.root = root
        self.path = root / LOCK_NAME
        self._handle = None

    def __enter__(self) -> "OutputLock":
        if is_remote(self.root):
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return self
        key = str(self.root.resolve())
        with self._guard:
            if key in self._held:  # the same process (tests, an embedding app): flock would not stop it
                raise OutputFolderBusy(f"{self.root} is already being written by this process; wait for that run to end")
            self._held.add(key)
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            self._held.discard(key)
            raise InputError(f"cannot lock output folder {self.root}: {exc.strerror or exc}; pass --out a folder you can write to") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip()[:20]
            handle.close()
            self._held.discard(key)
            who = f" (pid {owner})" if owner.isdigit() else ""
            raise OutputFolderBusy(
                f"{self.root} is being written by another segkit process{who}; wait for it to finish or pass another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        self._key = key
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
            with self._guard:
                self._held.discard(self._key)
