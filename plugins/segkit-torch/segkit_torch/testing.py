"""Random-weight checkpoints for tests: each built once per process, hard-linked into each test's folder.

Building a real architecture and saving it takes seconds (SAM 2.1 large: ~900 MB on disk), so a plugin's
test helpers keep one ``BuildOnce`` and ask it for a checkpoint by key; the first request builds it into a
temporary folder (removed when the process exits), later ones only link it::

    _checkpoints = BuildOnce("segkit-sam2-random-")

    def random_checkpoint(size, directory):
        source = _checkpoints.get(("2.1", size), lambda folder: build_and_save(size, folder))
        return link(source, Path(directory) / official_name(size))

A checkpoint may be a file or a folder (Hugging Face's ``save_pretrained`` layout); folders are linked
file by file. Links are hard links, or copies across file systems, so a test that changes its copy's
metadata cannot touch the cache, but a test must never write into a linked file.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Hashable


class BuildOnce:
    """Checkpoints built at most once per process, by key, in a private temporary folder."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._built: dict[Hashable, Path] = {}
        self._lock = threading.Lock()
        self._folder: Path | None = None

    def get(self, key: Hashable, build: Callable[[Path], Path]) -> Path:
        """The checkpoint for ``key``; ``build(folder)`` writes it inside ``folder`` and returns its path."""
        with self._lock:
            if key not in self._built:
                folder = Path(tempfile.mkdtemp(prefix="build-", dir=self._root()))
                self._built[key] = Path(build(folder))
            return self._built[key]

    def _root(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=self.prefix))
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder


def link(source: Path, target: Path) -> Path:
    """Hard-link ``source`` (a file, or a folder file by file) as ``target``, replacing it; copies across
    file systems. Returns ``target``."""
    source, target = Path(source), Path(target)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, copy_function=_link_file)
    else:
        _link_file(source, target)
    return target


def _link_file(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
