"""report.html at the end of a run, compare or eval, with the one error policy every entry point shares:
a page that cannot be written is one warning, never a failure, and never touches the other outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.errors import SegkitError
from segkit.html_report import write_html_report
from segkit.pipeline.events import RunEvents
from segkit.storage import is_remote

NOT_REMOTE = ("report.html is written in local folders only: copy the output down (aws s3 sync URL DIR) and run"
              " `segkit compare DIR` for the page")


def publish_page(out: Any, images: Any, events: RunEvents) -> Path | None:
    """Write OUT/report.html from what is in the folder; its path, or None (and one warning) if it cannot be."""
    if is_remote(out):
        events.warning(NOT_REMOTE)
        return None
    events.stage("page")
    try:
        return write_html_report(Path(out), images if images is not None and not is_remote(images) else None)
    except SegkitError as exc:
        events.warning(f"report.html not written: {exc}")
    except OSError as exc:
        events.warning(f"report.html not written: cannot write in {out} ({exc.strerror or exc}); the other outputs are kept")
    except Exception as exc:  # noqa: BLE001 - a plotting library's error on one label must not fail the run
        events.warning(f"report.html not written ({type(exc).__name__}: {exc}); the other outputs are kept")
    return None
