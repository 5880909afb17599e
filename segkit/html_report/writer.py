"""`write_html_report`: OUT/report.html from report.json (and eval.json), the image records and the masks."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

from segkit import __version__
from segkit.errors import InputError, SegkitError
from segkit.fonts import subset_font
from segkit.html_report import plots
from segkit.html_report.assets import DEFAULT_MAX_SIDE, AssetMaker, ImageAssets
from segkit.html_report.data import (
    listed_thumbs,
    page_data,
    read_failures,
    report_records,
)
from segkit.html_report.gt_overlays import ground_truth_masks, gt_plot_values
from segkit.html_report.page import render_page
from segkit.machine import machine_cores
from segkit.outputs.files import atomic_write_bytes, write_json
from segkit.outputs.layout import OutputLayout
from segkit.outputs.reading import read_record

ASSET_NAME = re.compile(r"^[0-9a-f]{16}(-[0-9a-z-]+)?\.(jpg|png)$")


def write_html_report(
    out_dir: Path,
    images: Path | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    workers: int | None = None,
) -> Path:
    """Write OUT/report.html and its pictures under OUT/html/; return the page's path.

    ``images``: where the original images are, when not where the run read them (as `compare --images`).
    ``max_side``: the longer side of each image's copy on the page, in pixels (this bounds the pictures'
    size per image). Images whose pictures cannot be made (original or mask missing) are listed on the
    page; the rest is shown.
    """
    layout = OutputLayout(Path(out_dir))
    root = layout.root
    report = read_record(layout.report_json_path)
    if report is None or not isinstance(report.get("backends"), list):
        raise InputError(f"{layout.report_json_path} is missing or not a segkit report; run `segkit run` or `segkit compare {root}` first")
    try:
        return _write(layout, report, images, max_side, workers)
    except OSError as exc:
        raise HtmlReportError(f"cannot write the HTML report in {root} ({exc.strerror or exc}); the other outputs are kept:"
                              " free some space or make the folder writable, or pass --no-html") from exc


class HtmlReportError(SegkitError):
    """report.html or its pictures could not be written (disk full, folder made read-only)."""

    exit_code = 1


def _write(layout: OutputLayout, report: dict[str, Any], images: Path | None, max_side: int, workers: int | None) -> Path:
    root = layout.root
    evaluation = read_record(root / "eval.json")
    backends = [str(b) for b in report.get("backends", [])]
    records = report_records(root, backends)

    manifest_path = layout.html_dir / "assets.json"
    previous = read_record(manifest_path) or {}
    gt_masks, gt_source, gt_problem = ground_truth_masks(evaluation)
    maker = AssetMaker(root, backends, images, max_side, previous.get("images", {}) if previous.get("version") == 1 else {},
                       gt_masks, gt_source)
    thumbs = listed_thumbs(report, records)
    # Mostly OpenCV and zlib, which release the GIL: one thread per core, as the run itself.
    with ThreadPoolExecutor(workers or machine_cores(), thread_name_prefix="html") as pool:
        made = list(pool.map(lambda stem: (stem, *maker.make(stem, records[stem], thumbs.get(stem, []))), records))
    assets: dict[str, ImageAssets] = {stem: pictures for stem, _, pictures in made}
    write_json(manifest_path, {"version": 1, "images": {stamp: pictures.to_json() for _, stamp, pictures in made if stamp}})
    _remove_stale(layout, {f for pictures in assets.values() for f in pictures.files})

    notes = [pictures.problem for pictures in assets.values() if pictures.problem] + ([gt_problem] if gt_problem else [])
    if isinstance(report.get("images"), int) and len(records) != report["images"]:  # a run with --limit, say
        notes.append(f"json/ holds {len(records)} image records of these backends but report.json covers {report['images']}"
                     " images: the detections table shows them all; `segkit compare` makes one report of them all")
    data = page_data(root.resolve().name or str(root), report, evaluation, records, assets, read_failures(root),
                     notes, f"segkit {__version__}")
    data["plots"] = _plots(report, data, gt_plot_values(records, backends) if evaluation else None)
    # The page's own font: IPAexGothic cut down to the characters the data holds (labels, names, settings).
    font = subset_font(json.dumps(data, ensure_ascii=False))
    page = render_page(f"segkit report: {data['title']}", data, font)
    atomic_write_bytes(layout.report_html_path, page.encode("utf-8"))
    return layout.report_html_path


def _plots(report: Mapping[str, Any], data: Mapping[str, Any], gt_values: Mapping[str, list[float]] | None) -> dict[str, Any]:
    """The page's plots, from the same numbers its tables show: the pair IoUs of the detection rows."""
    column = data["detection_columns"].index("ious")
    pairs = data["pairs"]
    values = {pair: [row[column][k] for row in data["detections"] if row[column][k] is not None] for k, pair in enumerate(pairs)}
    label_svg, label_count = plots.label_bars(report.get("labels", []), pairs)
    shown = min(label_count, plots.MAX_LABELS)
    return {
        "pairs": plots.pair_histograms(values, float(report.get("iou_threshold", 0.5))),
        "labels": label_svg,
        "labels_caption": f"Mean IoU per label and pair: the {shown} of {label_count} labels that agree least"
                          f" (all of them in the table below)." if label_count > shown else "Mean IoU per label and pair.",
        "gt": plots.gt_boxplots(gt_values) if gt_values else None,
    }


def _remove_stale(layout: OutputLayout, keep: set[str]) -> None:
    """Delete pictures of an earlier report that this one does not use (only files named as we name them)."""
    for folder in ("img", "thumb"):
        directory = layout.html_dir / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if ASSET_NAME.match(path.name) and f"html/{folder}/{path.name}" not in keep:
                path.unlink(missing_ok=True)
