"""One process at a time writes to an output folder: ``OutputLock`` holds ``OUT/.segkit.lock``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from segkit.errors import InputError, SegkitError
from segkit.storage import is_remote

LOCK_NAME = ".segkit.lock"


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
