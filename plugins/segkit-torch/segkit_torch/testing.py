"""Test helpers for torch backends: random-weight checkpoints built once per process and hard-linked into
each test's folder (a real architecture takes seconds to build), a run with the network refused, what a
module received, one-line messages::

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
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any, Callable, ContextManager, Hashable, Iterator, Sequence

import numpy as np

RED = (230, 120, 20)  # a colour whose channels differ, to see channel order at a model's input


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


def loaded(made: ContextManager[Any]) -> Iterator[Any]:
    """For a module-scoped fixture: ``yield from loaded(offline_segmenter(name, folder))`` gives the segmenter
    loaded, and closes it after the module's tests."""
    with made as segmenter:
        segmenter.load()
        yield segmenter


def solid_image(colour: Sequence[int] = RED, size: tuple[int, int] = (120, 90)) -> np.ndarray:
    """An RGB image of one colour, (H, W, 3) uint8, ``size`` = (width, height)."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[...] = colour
    return image


def input_of(module: Any, run: Callable[[], Any]) -> Any:
    """The tensor ``module``'s forward received while ``run()`` ran (exactly one call; a forward pre-hook,
    nothing replaced)."""
    seen: list[Any] = []
    hook = module.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    try:
        run()
    finally:
        hook.remove()
    assert len(seen) == 1, f"{type(module).__name__} ran {len(seen)} times"
    return seen[0]


_OFFLINE = """
import contextlib, json, socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by the test")
socket.getaddrinfo = refuse
socket.create_connection = refuse
socket.socket.connect = lambda self, *a: refuse(*a)
from segkit.testing import SAMPLE_BOXES, sample_image
with contextlib.ExitStack() as stack:
{setup}
    segmenter.load()
    masks = segmenter.segment(sample_image(), SAMPLE_BOXES).masks
    segmenter.close()
print(json.dumps({{"attempts": attempts, "masks": list(masks.shape)}}))
"""


def segment_without_network(setup: str, unset: Sequence[str] = (), timeout: int = 600) -> dict[str, Any]:
    """Load a backend and segment segkit's sample image in a fresh interpreter where every socket lookup and
    connection is refused and recorded. ``setup`` is Python that leaves a not yet loaded segmenter in
    ``segmenter`` (it may enter context managers on ``stack``, an ExitStack, and record in ``attempts``);
    ``unset`` names environment variables removed first. Returns ``{"attempts": [...], "masks": [N, H, W]}``."""
    code = _OFFLINE.format(setup=textwrap.indent(textwrap.dedent(setup).strip(), "    "))
    env = {key: value for key, value in os.environ.items() if key not in unset}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same_answers(got: Sequence[Any], expected: Sequence[Any], rtol: float = 1e-5) -> None:
    """Segmentations equal one by one: the same bool masks exactly, scores within ``rtol``."""
    assert len(got) == len(expected)
    for one, want in zip(got, expected):
        assert one.masks.shape == want.masks.shape and one.masks.dtype == np.bool_
        np.testing.assert_array_equal(one.masks, want.masks)
        np.testing.assert_allclose(one.scores, want.scores, rtol=rtol)


def only_line(output: str) -> str:
    """The one non-empty line of a message or a command's output (asserted: one line, no traceback)."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]
