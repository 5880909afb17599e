"""The one place that names, writes and reads back output files. Every file is written atomically.

    OUT/backends/<backend>/<stem>.json                     backend record: one backend's answers for one image
    OUT/masks/<stem>_det<NN>_<label>_<backend>.png         binary 0/255 mask, full resolution
    OUT/json/<stem>.json                                   image record: the backend records combined, pair IoUs
    OUT/viz/<stem>_panel.jpg                               original | overlay per backend | diff
    OUT/report.json, OUT/report.csv                        the dataset report of the last run or compare
    OUT/coco/<backend>.json                                every mask of a backend as COCO RLE annotations (--coco)
    OUT/failures.json                                      what failed in the last run, and why

Backend records and masks are named by backend, so folders written by runs with different backends
(on different machines) merge by plain copying; the rest is rebuilt from them by `segkit compare`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from segkit.errors import InputError
from segkit.record import RECORD_VERSION


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
        return self.masks_dir / f"{stem}_det{det_id:02d}_{safe_label(label)}_{backend}.png"

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

    def coco_path(self, backend: str) -> Path:
        return self.coco_dir / f"{backend}.json"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place: no half-written files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UTF-8 CSV with a header row; None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def encode_png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def write_mask(path: Path, mask: np.ndarray) -> None:
    atomic_write_bytes(path, encode_png(mask))


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
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_record(path: Path) -> dict[str, Any]:
    """A JSON record, or OutputFileError saying why it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OutputFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise OutputFileError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise OutputFileError(f"{path} is not a segkit record (expected a JSON object)")
    return data


def load_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as (H, W) bool, checked against the (width, height) its record gives."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise OutputFileError(f"mask {path} is missing" if not path.exists() else f"cannot read mask {path}: {exc}") from exc
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if mask is None:
        raise OutputFileError(f"mask {path} cannot be decoded as an image")
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise OutputFileError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but its record says the image is {size[0]}x{size[1]}")
    return mask > 127


def find_backend_records(layout: OutputLayout) -> dict[str, dict[str, Path]]:
    """Every backend record in the folder: backend -> stem -> path."""
    found: dict[str, dict[str, Path]] = {}
    if not layout.backends_dir.is_dir():
        return found
    for folder in sorted(p for p in layout.backends_dir.iterdir() if p.is_dir()):
        records = {p.name[: -len(".json")]: p for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith(".")}
        if records:
            found[folder.name] = dict(sorted(records.items()))
    return found


def complete_record(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> dict[str, Any] | None:
    """The image record when an earlier run (or compare) already holds every output this run would write.

    Complete means: the image record is current, was made at the same --conf, has an answer from every
    backend of this run (other backends, merged in from elsewhere, may be there too), none of them
    failed, and every file it lists exists.
    """
    record = read_record(layout.json_path(stem))
    if not record or record.get("version") != RECORD_VERSION or record.get("conf_threshold") != conf:
        return None
    done, failed = record.get("backends", {}), record.get("failed_backends", {})
    if any(name not in done or name in failed for name in backends):
        return None
    if not all((layout.root / rel).is_file() for rel in record.get("files", [])):
        return None
    return record


def is_complete(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> bool:
    """True when an earlier run wrote every output this run would write for the image."""
    return complete_record(layout, stem, backends, conf) is not None


def remove_stale_temp_files(layout: OutputLayout) -> None:
    """Temporary files left by a run that was killed before it could rename them."""
    backend_dirs = [p for p in layout.backends_dir.iterdir() if p.is_dir()] if layout.backends_dir.is_dir() else []
    for folder in (layout.root, layout.json_dir, layout.masks_dir, layout.viz_dir, layout.coco_dir, *backend_dirs):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
