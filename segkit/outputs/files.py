"""Writing output files: every file whole (a temporary file renamed into place), strict JSON, CSV, JPEG.

Files get the mode the user's umask allows, as ``open`` gives (mkstemp's 0600 would hide them from
the user's group). On an object store each object is written whole in one request instead (atomic on
S3), with no temporary files. A temporary file carries segkit's mark in its name, and only such files, in
the folders segkit writes, are ever removed.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
from pydantic import BaseModel

from segkit.outputs.layout import OutputLayout
from segkit.outputs.mask_png import encode_mask_png
from segkit.redact import redact_secrets
from segkit.storage import is_remote, write_object

TEMP_SUFFIX = ".tmp"


# A temporary file of segkit's own: ".<target name>.segkit-<pid>-<n>.tmp". Only names of this shape, in the
# folders segkit writes, are ever removed: a user's own ".notes.tmp" beside the outputs is not ours.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.segkit-\d+-\d+\.tmp")


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
    return (redact_secrets(text) + "\n").encode("utf-8")  # a key a model or server echoed never reaches a file


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json_bytes(data))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """UTF-8 CSV with a header row; None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    atomic_write_bytes(path, redact_secrets(buffer.getvalue()).encode("utf-8"))


def write_mask(path: Path, mask: np.ndarray) -> None:
    atomic_write_bytes(path, encode_mask_png(mask))


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError("JPEG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def is_temp_file(name: str) -> bool:
    """A temporary file that segkit's ``atomic_write_bytes`` made (by its marked name)."""
    return _TEMP_NAME.fullmatch(name) is not None


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
