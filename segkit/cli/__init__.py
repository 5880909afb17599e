"""The segkit command line: a thin face over the library calls in ``segkit.pipeline``.

    app.py        the Typer app, its consoles, how a line reaches the user, main()
    progress.py   the one progress display
    run.py, compare.py, evaluate.py, detect.py, export.py, listing.py   one module per command (listing: backends, plugins)
    run_tables.py, eval_tables.py   the closing tables
"""

from segkit.cli import run, compare, evaluate, detect, export, listing  # noqa: F401, I001  (each registers its commands, in this order)
from segkit.cli.app import app, main

__all__ = ["app", "main"]
