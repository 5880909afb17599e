"""The libraries that run the models (sam2, sam3, transformers, ultralytics): their version, and their
warnings kept off the terminal. No torch.

Upstream packages warn on import and on every build about things a segkit user cannot act on
(``torch.jit.script`` is deprecated, CUDA autocast disabled on a CPU machine). ``warnings_logged``
turns every warning raised while it is active into one INFO record on the ``segkit`` logger, once per
process for each distinct text: nothing reaches the terminal unless the user configures logging, and
a one-line error exit stays one line.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import threading
import warnings
from typing import Any, Iterator

LOGGER = logging.getLogger("segkit")

_lock = threading.Lock()
_active = 0  # nesting depth over all threads: warnings are process-wide state, so one capture serves all
_capture: Any = None
_logged: set[tuple[str, str]] = set()


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or "(version unknown)"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


@contextlib.contextmanager
def warnings_logged() -> Iterator[None]:
    """While active (in any thread), warnings are logged once per process instead of printed."""
    global _active, _capture
    with _lock:
        if _active == 0:
            _capture = warnings.catch_warnings()
            _capture.__enter__()
            warnings.simplefilter("always")  # every occurrence reaches _log_once, which keeps the first
            warnings.showwarning = _log_once
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _capture.__exit__(None, None, None)
                _capture = None


def _log_once(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    key = (category.__name__, str(message))
    if key in _logged:
        return
    _logged.add(key)
    LOGGER.info("upstream %s at %s:%d: %s", category.__name__, filename, lineno, message)
