"""The one place that names and writes output files. Every file is written atomically.

    OUT/json/<stem>.json                                  per-image record
    OUT/masks/<stem>_det<NN>_<label>_<backend>.png         binary 0/255 mask, full resolution
    OUT/viz/<stem>_panel.jpg                               original | overlay per backend | diff
    OUT/failures.json                                      what failed in the last run, and why
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

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

    def create(self) -> None:
        for folder in (self.json_dir, self.masks_dir, self.viz_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def json_path(self, stem: str) -> Path:
        return self.json_dir / f"{stem}.json"

    def mask_path(self, stem: str, det_id: int, label: str, backend: str) -> Path:
        return self.masks_dir / f"{stem}_det{det_id:02d}_{safe_label(label)}_{backend}.png"

    def panel_path(self, stem: str) -> Path:
        return self.viz_dir / f"{stem}_panel.jpg"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.json"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place: no half-written files."""
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


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(layout: OutputLayout, stem: str, backends: list[str], conf: float) -> bool:
    """True when an earlier run wrote every output this run would write for the image."""
    record = read_record(layout.json_path(stem))
    if not record or record.get("version") != RECORD_VERSION or record.get("failed_backends"):
        return False
    if sorted(record.get("backends", {})) != sorted(backends) or record.get("conf_threshold") != conf:
        return False
    return all((layout.root / rel).is_file() for rel in record.get("files", []))


def remove_stale_temp_files(layout: OutputLayout) -> None:
    """Temporary files left by a run that was killed before it could rename them."""
    for folder in (layout.root, layout.json_dir, layout.masks_dir, layout.viz_dir):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
