"""``write_html_report(OUT)``: the page (re)built from an output folder, streaming its image records.

Reads report.json, eval.json, failures.json and every ``json/<stem>.json`` once, in name order, into a
``PageWriter``: it never opens an image nor decodes a full-size mask (the records' ``preview`` holds the
page's masks). `segkit compare` and `segkit eval` end with it; a run can feed ``PageWriter.add`` each
image's record as it finishes instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from segkit.errors import InputError
from segkit.html_report.page_writer import HtmlReportError, PageSettings, PageWriter
from segkit.outputs.layout import OutputLayout
from segkit.outputs.reading import read_record
from segkit.outputs.records import ImageRecord


def write_html_report(out_dir: Path, images: Path | None = None, settings: PageSettings | None = None) -> Path:
    """Write OUT/report.html and its data under OUT/html/data/; return the page's path.

    ``images`` is accepted for the callers that pass where the originals are, and not used: the page's
    pictures were made as each image finished. InputError when the folder has no report.json yet;
    HtmlReportError (one line) when the page cannot be written.
    """
    layout = OutputLayout(Path(out_dir))
    root = layout.root
    report = read_record(layout.report_json_path)
    if report is None or not isinstance(report.get("backends"), list):
        raise InputError(f"{layout.report_json_path} is missing or not a segkit report; run `segkit run` or `segkit compare {root}` first")
    backends = {str(b) for b in report["backends"]}
    writer = PageWriter(root, settings)
    added = 0
    try:
        for path in _record_paths(layout):
            try:
                record = ImageRecord.model_validate_json(path.read_bytes())
            except (OSError, ValidationError, ValueError):
                continue  # not an image record (or one being replaced): the page shows the others
            if backends & {*record.backends, *record.failed_backends}:
                writer.add(record)
                added += 1
    except OSError as exc:  # json/ itself unreadable
        raise HtmlReportError(f"cannot read the image records in {layout.json_dir} ({exc.strerror or exc}); the other outputs are kept") from exc
    notes = []
    if isinstance(report.get("images"), int) and added != report["images"]:  # a run with --limit, say
        notes.append(f"json/ holds {added} image records of these backends but report.json covers {report['images']}"
                     " images: the detections table shows them all; `segkit compare` makes one report of them all")
    return writer.finish(report, read_record(layout.eval_json_path), read_failures(root), notes)


def _record_paths(layout: OutputLayout) -> list[Path]:
    folder = layout.json_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))


def read_failures(root: Path) -> list[Any]:
    try:
        data = json.loads((root / "failures.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []
