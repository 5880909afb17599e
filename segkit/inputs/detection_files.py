"""Where detections come from: a folder of per-image files or one file, read by a named or sniffed reader.

Detection files are untrusted input. Each is checked before it is read (a regular file, at most
``limits.max_detection_file_bytes``), and anything a reader raises while parsing, sniffing or reading
it, a plugin's reader included, becomes one line about that file: in a folder it fails that file's
images only; a single file for all images ends the run with that line. What a reader returns is
bounded too: long labels are cut and a detection's other fields are kept up to
``limits.max_detection_fields_bytes`` of strict JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from segkit import input_files, storage
from segkit.config import LimitSettings
from segkit.errors import InputError, SegkitError, one_line
from segkit.input_files import DETECTION_FILE, too_big
from segkit.inputs.detections import RawDetection, box_space_warning
from segkit.inputs.readers.base import (
    DetectionFormatError,
    DetectionReader,
    ReaderContext,
    log_warning,
)
from segkit.text import preview, shorten, without_surrogates

# The key under which a detection's record notes the fields that were not kept (too big, or not JSON).
DROPPED_FIELDS_KEY = "_segkit_dropped"
MAX_ERROR_CHARS = 1000


@dataclass
class DetectionIndex:
    """Detections by image key, plus per-key errors for files that could not be read."""

    found: dict[str, tuple[Path, str, list[RawDetection]]] = field(default_factory=dict)  # key -> (file, reader, dets)
    errors: dict[str, str] = field(default_factory=dict)  # key -> one-line message
    used: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)  # e.g. two files for one image: which one is used
    warned_files: set[Path] = field(default_factory=set)  # files already warned about for their box space
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def lookup(self, image: Path) -> tuple[str | None, tuple[Path, str, list[RawDetection]] | None, str | None]:
        """(key, entry, error) for an image, matched by file name, stem, or numeric stem (COCO ids)."""
        candidates = [image.name, image.stem]
        if image.stem.isdigit():
            candidates.append(str(int(image.stem)))
        for key in candidates:
            if key in self.found or key in self.errors:
                self.used.add(key)
                return key, self.found.get(key), self.errors.get(key)
        return None, None, None

    def __getstate__(self) -> dict[str, Any]:  # sent to an engine's workers without its lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def box_space_warning(self, path: Path, raws: list[RawDetection], image_size: tuple[int, int]) -> str | None:
        """``path: why its boxes do not fit their declared space`` for one image's boxes from ``path``,
        at most once per detection file (a file of many images warns for the first that shows it)."""
        if path in self.warned_files:
            return None
        problem = box_space_warning(raws, image_size)
        if problem is None:
            return None
        with self._lock:
            if path in self.warned_files:
                return None
            self.warned_files.add(path)
        return f"{path}: {problem}"

    def unused(self) -> list[tuple[str, Path | None]]:
        """Detection entries that matched no image (a detection file without an image)."""
        keys = sorted((set(self.found) | set(self.errors)) - self.used)
        return [(k, self.found[k][0] if k in self.found else None) for k in keys]


def load_detections(
    source: Path,
    readers: dict[str, DetectionReader],
    reader_name: str,
    context: ReaderContext,
    limits: LimitSettings | None = None,
) -> DetectionIndex:
    limits = limits or LimitSettings()
    if not source.exists():
        raise InputError(f"detections {source} do not exist; pass --detections DIR|FILE or set `detections:` in the config")
    index = DetectionIndex()
    if context.warn is log_warning:  # readers' warnings (an answer cut off) are the run's, with the others
        context = dataclasses.replace(context, warn=index.warnings.append)
    if not source.is_dir():  # one file for all images: a file that cannot be read ends the run
        name, entries = read_detection_file(source, readers, reader_name, context, limits)
        for key, dets in entries.items():
            index.found[key] = (source, name, dets)
        return index
    suffixes = {s for r in readers.values() for s in r.suffixes}
    try:
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    except OSError as exc:
        raise InputError(f"cannot list detections in {source} ({exc.strerror or exc}); check the folder and its permissions") from exc
    if not files:
        raise InputError(f"no detection files ({', '.join(sorted(suffixes))}) in {source}; point --detections at them")
    owner: dict[str, Path] = {}  # image key -> the file whose detections are used
    shadowed: dict[tuple[Path, Path], list[str]] = {}  # (used file, ignored file) -> keys
    for path in files:
        try:
            name, entries = read_detection_file(path, readers, reader_name, context, limits)
        except SegkitError as exc:
            name, entries, error = "", {path.stem: []}, shorten(str(exc), MAX_ERROR_CHARS)
        else:
            error = None
        for key, dets in entries.items():
            if key in owner:
                shadowed.setdefault((owner[key], path), []).append(key)
                continue
            owner[key] = path
            if error is not None:
                index.errors[key] = error
            else:
                index.found[key] = (path, name, dets)
    for (used, ignored), keys in shadowed.items():
        which = repr(keys[0]) if len(keys) == 1 else f"{len(keys)} images ({', '.join(map(preview, keys[:3]))}, …)"
        index.warnings.append(
            f"{used.name} and {ignored.name} in {source} both hold detections for {which}; using {used.name} and"
            f" ignoring {ignored.name} (rename or remove one of them)"
        )
    return index


def read_detection_file(
    path: Path, readers: dict[str, DetectionReader], reader_name: str, context: ReaderContext, limits: LimitSettings
) -> tuple[str, dict[str, list[RawDetection]]]:
    """(reader name, detections per image key) of one file; any problem raises one SegkitError line."""
    text = read_text(path, limits.max_detection_file_bytes)
    name, data = sniff_reader(path, text, readers, reader_name)
    entries = _reader_step(path, name, "reading it", readers[name].read, data, path, context)
    if not isinstance(entries, Mapping):
        raise DetectionFormatError(path, f"the {name} reader returned {preview(entries)}, not detections per image",
                                   fix="report it to the reader's plugin")
    bounded: dict[str, list[RawDetection]] = {}
    for key, dets in entries.items():
        if not isinstance(dets, (list, tuple)) or not all(isinstance(d, RawDetection) for d in dets):
            raise DetectionFormatError(path, f"the {name} reader returned {preview(dets)} for {preview(key)}, not a list"
                                       " of RawDetection", fix="report it to the reader's plugin")
        bounded[str(key)] = [bounded_detection(d, limits) for d in dets]
    return name, bounded


def read_text(path: Path, max_bytes: int) -> str:
    """A detection file's text: a regular file of at most ``max_bytes``, UTF-8 (a BOM allowed)."""
    if not isinstance(path, Path):  # an object-store URL
        data = read_limited(path, max_bytes)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    return input_files.read_text(path, max_bytes, DETECTION_FILE)


def read_limited(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; a FIFO, a device or a bigger file is refused unread."""
    if not isinstance(path, Path):  # an object-store URL
        try:
            data = storage.read_limited(path, max_bytes)
        except Exception as exc:
            raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc}); check the URL and its permissions") from exc
        if data is None:
            raise too_big(path, path.fs.size(path.path), max_bytes, DETECTION_FILE)
        return data
    return input_files.read_limited(path, max_bytes, DETECTION_FILE)


def sniff_reader(path: Path, text: str, readers: dict[str, DetectionReader], reader_name: str) -> tuple[str, Any]:
    """(reader name, parsed data) for a file: the named reader, or the first whose sniff accepts it."""
    if reader_name != "auto":
        return reader_name, _reader_step(path, reader_name, "parsing it", readers[reader_name].parse, text, path)
    last_error: SegkitError | None = None
    parsed: dict = {}  # parse function -> data or error: readers sharing a parser parse the text once
    for name, reader in readers.items():
        if path.suffix.lower() not in reader.suffixes:
            continue
        parse = type(reader).parse
        if parse not in parsed:
            try:
                parsed[parse] = _reader_step(path, name, "parsing it", reader.parse, text, path)
            except SegkitError as exc:
                parsed[parse] = exc
        data = parsed[parse]
        if isinstance(data, SegkitError):
            last_error = data
            continue
        try:
            if _reader_step(path, name, "sniffing it", reader.sniff, data, path):
                return name, data
        except SegkitError as exc:  # one reader's broken sniff must not hide the file from the others
            last_error = exc
    if last_error is not None:
        raise last_error
    raise InputError(
        f"{path}: no reader recognises this file (readers: {', '.join(readers)}); "
        "pass --reader NAME or see `segkit plugins` for the formats"
    )


def _reader_step(path: Path, reader: str, step: str, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, with anything it raises (a plugin's reader, a parser's limits) made one line."""
    try:
        return call(*args)
    except SegkitError:
        raise
    except RecursionError:
        raise DetectionFormatError(path, f"nested too deeply for the {reader} reader ({step})") from None
    except Exception as exc:
        raise DetectionFormatError(path, f"the {reader} reader failed {step} ({one_line(exc, 300)})") from exc


# -- what is kept of each detection ------------------------------------------------------------------


def bounded_detection(raw: RawDetection, limits: LimitSettings) -> RawDetection:
    """``raw`` with its label cut to ``max_label_chars`` and its fields bounded (see ``bounded_fields``); lone
    surrogates in either (``"a\\ud800b"`` in the JSON) become U+FFFD, kept as data rather than failing the
    image at its first UTF-8 file."""
    label = shorten(without_surrogates(raw.label if isinstance(raw.label, str) else str(raw.label)), limits.max_label_chars)
    try:
        fields = without_surrogates(raw.fields)
    except RecursionError:
        fields = raw.fields
    fields = bounded_fields(fields, limits.max_detection_fields_bytes)
    if label is raw.label and fields is raw.fields:
        return raw
    return dataclasses.replace(raw, label=label, fields=fields)


def bounded_fields(fields: Mapping[Any, Any], max_bytes: int) -> dict[str, Any]:
    """A detection's fields as its records keep them: strict JSON of at most about ``max_bytes``.

    Non-finite numbers become null. A field that does not fit, or is not JSON, is left out; one entry
    ``_segkit_dropped`` then says how many were left out, the first names, and the limit.
    """
    if not isinstance(fields, Mapping):
        fields = {"value": fields}
    try:
        if len(json.dumps(fields, ensure_ascii=False, allow_nan=False).encode("utf-8")) <= max_bytes:
            return fields if isinstance(fields, dict) and all(isinstance(k, str) for k in fields) else dict(fields)
    except (TypeError, ValueError, RecursionError):
        pass  # NaN somewhere, or something that is not JSON: field by field below
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    used = 2  # the braces
    for key, value in fields.items():
        name = key if isinstance(key, str) else str(key)
        try:
            value = _finite(value)
            size = len(json.dumps({name: value}, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        except (TypeError, ValueError, RecursionError):
            dropped.append(name)
            continue
        if used + size > max_bytes:
            dropped.append(name)
            continue
        kept[name] = value
        used += size
    if dropped:
        kept[DROPPED_FIELDS_KEY] = {
            "fields": len(dropped),
            "names": [shorten(n, 40) for n in dropped[:5]],
            "reason": f"over limits.max_detection_fields_bytes ({int(max_bytes)}) or not JSON",
        }
    return kept


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot hold) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
