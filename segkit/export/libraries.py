"""The optional libraries of ``segkit[export]``: imported only when an export runs, a missing one is one line."""

from __future__ import annotations

import importlib
from types import ModuleType

from segkit.errors import ConfigError

INSTALL = "pip install 'segkit[export]'"


def need(module: str, what: str) -> ModuleType:
    """``module`` imported, or ConfigError naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{what} needs {module.split('.')[0]} ({exc}); install it with: {INSTALL}") from None
