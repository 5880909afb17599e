"""The dataset folder (``--to``): what an export writes there, what it has written already, what is not its own.

    DATASET/segkit-export.json        the manifest: format, settings, classes, the source's images; "complete"
    DATASET/.segkit-export/<stem>.json  one per image, written last for it: its split, counts, and the parts
                                       that one-file formats are assembled from (an interrupted export goes on
                                       from the images without one)
    DATASET/summary.json              images, instances per class, what each filter dropped

A folder that exists, is not empty and has no manifest is not an export: it is refused, nothing in it is
touched. An export with other settings is refused too, unless ``--force`` (which removes what the earlier
export wrote, by the manifest's own list of names, and nothing else).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

from segkit.errors import ConfigError, InputError
from segkit.outputs.files import is_temp_file, write_json
from segkit.storage import is_remote

MANIFEST = "segkit-export.json"
PARTS = ".segkit-export"
SUMMARY = "summary.json"
MANIFEST_VERSION = 1


class Target:
    def __init__(self, root: Path, owned: Sequence[str]):
        self.root = root
        self.owned = [MANIFEST, PARTS, SUMMARY, *owned]  # every top-level name an export of this format writes
        self.manifest_path = root / MANIFEST
        self.parts = root / PARTS

    def part_path(self, stem: str) -> Path:
        return self.parts / f"{stem}.json"

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("segkit_export") == MANIFEST_VERSION else None

    def open(self, settings: dict[str, Any], force: bool) -> set[str]:
        """Make the folder ready for an export with ``settings``; the stems already written (resume).
        InputError/ConfigError (nothing touched) for a folder that is not an export or holds another one."""
        root = self.root
        if is_remote(root):
            raise ConfigError(f"--to {root}: datasets are written to a local folder; pass a local path and copy it after")
        if root.exists() and not root.is_dir():
            raise InputError(f"--to {root} is a file; pass a folder for the dataset (new, or an earlier export to go on with)")
        manifest = self.read_manifest() if root.is_dir() else None
        if root.is_dir() and manifest is None and any(root.iterdir()):
            raise InputError(f"--to {root} exists and is not a segkit export (no {MANIFEST}); pass a new or empty folder,"
                             " nothing in this one is written over")
        if manifest is not None and manifest.get("settings") != settings:
            if not force:
                changed = sorted(k for k in set(settings) | set(manifest.get("settings") or {})
                                 if settings.get(k) != (manifest.get("settings") or {}).get(k))
                raise ConfigError(f"--to {root} holds an export with other settings ({', '.join(changed[:6])});"
                                  " pass --force to write it again from scratch, or another --to folder")
        if manifest is not None and force:
            self.clear(manifest.get("owned") or self.owned)
            manifest = None
        root.mkdir(parents=True, exist_ok=True)
        self.parts.mkdir(exist_ok=True)
        self._remove_temp_files()
        done = set()
        if manifest is not None:
            for entry in os.scandir(self.parts):
                if entry.name.endswith(".json") and not is_temp_file(entry.name) and self.read_part(entry.name[:-5]) is not None:
                    done.add(entry.name[:-5])
        return done

    def write_manifest(self, settings: dict[str, Any], extra: dict[str, Any], complete: bool) -> None:
        write_json(self.manifest_path, {"segkit_export": MANIFEST_VERSION, "complete": complete, "settings": settings,
                                        "owned": self.owned, **extra})

    def clear(self, names: Sequence[str]) -> None:
        """Remove what an earlier export wrote: only the top-level names its manifest lists."""
        for name in names:
            if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
                continue
            path = self.root / name
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)

    def _remove_temp_files(self) -> None:
        """Temporary files of an export that was killed mid-write (segkit's own marked names only)."""
        for folder, dirs, files in os.walk(self.root):
            for name in files:
                if is_temp_file(name):
                    Path(folder, name).unlink(missing_ok=True)

    def read_part(self, stem: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.part_path(stem).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("stem") == stem else None

    def write_part(self, stem: str, part: dict[str, Any]) -> None:
        write_json(self.part_path(stem), {"stem": stem, **part})

    def iter_parts(self, stems: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The parts of ``stems`` in that order, one at a time (a stem without one is skipped)."""
        for stem in stems:
            part = self.read_part(stem)
            if part is not None:
                yield part
