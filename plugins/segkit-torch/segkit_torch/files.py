"""What a checkpoint file or folder is, told from its first bytes or its config.json. No torch: this runs
for `segkit backends`, so a file is judged by its header, never by its name alone.

Also where a download may go: a fix never points at a folder that holds something else.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

ZIP = b"PK\x03\x04"  # torch.save's format since 1.6: a zip archive with <name>/data.pkl
PICKLE = b"\x80"  # the legacy format: a pickle (protocol 2 and later start with this opcode)


def checkpoint_file_problem(path: Path) -> str | None:
    """None when ``path`` starts as a PyTorch checkpoint does; otherwise what it is, as "is ..." or "cannot
    ...". Reads the first bytes, and a zip archive's table of contents (not the tensors)."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if head.startswith(ZIP):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "is a damaged zip archive, not a whole PyTorch checkpoint (an unfinished download?)"
        if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            return None
        return "is a zip archive without data.pkl, not a PyTorch checkpoint"
    if head.startswith(PICKLE):
        return None
    if not head:
        return "is empty, not a PyTorch checkpoint"
    if head[8:10] == b'{"':
        return "is a safetensors file, not a PyTorch checkpoint"
    if head.lstrip().startswith(b"<"):
        return "is not a PyTorch checkpoint (it holds HTML or XML text: an error page saved in its place?)"
    return "is not a PyTorch checkpoint (neither a torch zip archive nor a pickle)"


def read_config(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """A from_pretrained folder's config.json and '', or None and what is wrong with it ("... is not
    readable JSON")."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path} is not readable JSON ({type(exc).__name__})"
    return (config, "") if isinstance(config, dict) else (None, f"{path} is not a JSON object")


def free_folder(near: Path, name: str) -> Path:
    """A folder beside ``near`` that does not exist yet, for a download: ``name``, else ``name-2``, ``name-3``...

    Used where ``near`` holds another model, so that the suggested command cannot overwrite it."""
    parent = Path(near).parent
    candidate, number = parent / name, 1
    while candidate.exists() or candidate == Path(near):
        number += 1
        candidate = parent / f"{name}-{number}"
    return candidate


def is_empty_folder(folder: Path) -> bool:
    return folder.is_dir() and not any(folder.iterdir())
