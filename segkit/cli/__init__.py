"""The segkit command line: a thin face over the library calls in ``segkit.pipeline``."""

from segkit.cli.commands import app, main

__all__ = ["app", "main"]
