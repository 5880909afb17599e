"""report.html at the end of a run, compare or eval, with the one error policy every entry point shares:
a page that cannot be written is one warning, never a failure, and never touches the other outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from segkit.errors import SegkitError
from segkit.evaluation.folder import EvalResult
from segkit.html_report import write_html_report
from segkit.html_report.page_writer import PageWriter
from segkit.outputs.agreement import AgreementReport
from segkit.pipeline.events import RunEvents
from segkit.storage import is_remote

NOT_REMOTE = ("report.html is rebuilt from a local folder only: copy the output down (aws s3 sync URL DIR) and run"
              " `segkit compare DIR` for the page")


def publish_page(out: Any, events: RunEvents, writer: PageWriter | None = None, report: AgreementReport | None = None,
                 evaluation: EvalResult | None = None, failures: Sequence[Any] = ()) -> Path | None:
    """Finish ``writer`` (the records it was fed as they were made), or, without one, rebuild the page from
    the folder's records; the page's path, or None (and one warning) if it cannot be written."""
    events.stage("page")
    try:
        if writer is not None:
            return writer.finish(report, evaluation.document if evaluation is not None else None, list(failures))
        if is_remote(out):
            events.warning(NOT_REMOTE)
            return None
        return write_html_report(Path(out))
    except SegkitError as exc:
        events.warning(f"report.html not written: {exc}")
    except OSError as exc:
        events.warning(f"report.html not written: cannot write in {out} ({exc.strerror or exc}); the other outputs are kept")
    except Exception as exc:  # noqa: BLE001 - a plotting library's error on one label must not fail the run
        events.warning(f"report.html not written ({type(exc).__name__}: {exc}); the other outputs are kept")
    return None
