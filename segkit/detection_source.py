"""Where detections come from: a folder of per-image files or one file, read by a named or sniffed reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segkit.detection_reader import DetectionReader, ReaderContext
from segkit.detections import RawDetection
from segkit.errors import InputError, SegkitError


@dataclass
class DetectionIndex:
    """Detections by image key, plus per-key errors for files that could not be read."""

    found: dict[str, tuple[Path, str, list[RawDetection]]] = field(default_factory=dict)  # key -> (file, reader, dets)
    errors: dict[str, str] = field(default_factory=dict)  # key -> one-line message
    used: set[str] = field(default_factory=set)

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

    def unused(self) -> list[tuple[str, Path | None]]:
        """Detection entries that matched no image (a detection file without an image)."""
        keys = sorted((set(self.found) | set(self.errors)) - self.used)
        return [(k, self.found[k][0] if k in self.found else None) for k in keys]


def load_detections(
    source: Path, readers: dict[str, DetectionReader], reader_name: str, context: ReaderContext
) -> DetectionIndex:
    if not source.exists():
        raise InputError(f"detections {source} do not exist; pass --detections DIR|FILE or set `detections:` in the config")
    index = DetectionIndex()
    if source.is_file():
        name, data = sniff_reader(source, readers, reader_name)  # one unreadable file ends the run
        for key, dets in readers[name].read(data, source, context).items():
            index.found[key] = (source, name, dets)
        return index
    suffixes = {s for r in readers.values() for s in r.suffixes}
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise InputError(f"no detection files ({', '.join(sorted(suffixes))}) in {source}; point --detections at them")
    for path in files:
        try:
            name, data = sniff_reader(path, readers, reader_name)
            entries = readers[name].read(data, path, context)
        except SegkitError as exc:
            index.errors[path.stem] = str(exc)
            continue
        for key, dets in entries.items():
            index.found[key] = (path, name, dets)
    return index


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}); check the path and its permissions") from exc


def sniff_reader(path: Path, readers: dict[str, DetectionReader], reader_name: str):
    """(reader name, parsed data) for a file: the named reader, or the first whose sniff accepts it."""
    text = read_text(path)
    if reader_name != "auto":
        reader = readers[reader_name]
        return reader_name, reader.parse(text, path)
    last_error: SegkitError | None = None
    parsed: dict = {}  # parse function -> data or error: readers sharing a parser parse the text once
    for name, reader in readers.items():
        if path.suffix.lower() not in reader.suffixes:
            continue
        parse = type(reader).parse
        if parse not in parsed:
            try:
                parsed[parse] = reader.parse(text, path)
            except SegkitError as exc:
                parsed[parse] = exc
        data = parsed[parse]
        if isinstance(data, SegkitError):
            last_error = data
            continue
        if reader.sniff(data, path):
            return name, data
    if last_error is not None:
        raise last_error
    raise InputError(
        f"{path}: no reader recognises this file (readers: {', '.join(readers)}); "
        "pass --reader NAME or see `segkit plugins` for the formats"
    )

