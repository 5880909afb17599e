"""The closing tables of a run and of a compare: run statistics and the dataset report.

Labels, backend names (folder names, in a merged output folder) and paths come from input: every cell is
plain ``Text`` (rich parses markup in a string cell: a label ``[/]`` would raise) made terminal-safe.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from segkit.outputs.agreement import AgreementReport
from segkit.pipeline.job import RunSummary
from segkit.text import for_terminal


def _cells(*values: Any) -> list[Text]:
    return [Text(for_terminal(v)) for v in values]


def render_summary(console: Console, summary: RunSummary, out_dir: str) -> None:
    table = Table(title="segkit run", title_justify="left")
    for column in ("backend", "images", "detections", "masks", "failures", "s / image", "load s"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for name, stats in summary.backends.items():
        per_image = stats.seconds_per_image
        table.add_row(*_cells(
            name,
            stats.images,
            f"{stats.concepts} concepts" if stats.concepts else stats.boxes,
            stats.masks,
            stats.failures,
            f"{per_image:.3f}" if per_image is not None else "-",
            f"{stats.load_seconds:.2f}",
        ))
    console.print(table)
    done = summary.count("done")
    parts = [f"{len(summary.outcomes)} images", f"{done} segmented"]
    for status, words in (("complete", "already complete (use --force to redo)"), ("failed", "failed"),
                          ("no-detections", "without detections"), ("not-run", "not run")):
        if summary.count(status):
            parts.append(f"{summary.count(status)} {words}")
    rate = f", {done / summary.seconds:.2f} images/s" if done and summary.seconds > 0 else ""
    console.print(Text(f"{', '.join(parts)} in {summary.seconds:.1f} s{rate}. Outputs in {for_terminal(out_dir)}"))


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _below(entry: Mapping[str, Any]) -> str:
    if entry["fraction_below"] is None:
        return "-"
    return f"{100 * entry['fraction_below']:.1f}%"


def _pair_columns(table: Table, threshold: float) -> None:
    for column in ("n", "mean IoU", "median", "p5", "min", f"< {threshold:g}", "area b/a"):
        table.add_column(column, justify="right", no_wrap=True)  # numbers stay whole; names wrap instead


def _pair_cells(entry: Mapping[str, Any]) -> list[Text]:
    return _cells(entry["detections"], _num(entry["mean_iou"]), _num(entry["median_iou"]), _num(entry["p5_iou"]),
                  _num(entry["min_iou"]), _below(entry), _num(entry["median_area_ratio"]))


def render_report(console: Console, report: AgreementReport, files: Sequence[str], show_backends: bool = True,
                  label_rows: int = 12) -> None:
    """The agreement report as tables: pairs, labels (lowest agreement first), backends, worst detections."""
    report = report.model_dump(mode="json")
    backends = report["backends"]
    threshold = report["iou_threshold"]
    if len(backends) < 2:
        console.print(Text(f"One backend ({for_terminal(', '.join(backends)) or 'none'}): no pairs to compare. Run two or"
                           " more --backend, or `segkit compare` a folder that holds several."))
    else:
        table = Table(title=f"IoU per pair of backends: {report['detections']} detections in {report['images']} images",
                      title_justify="left", caption=f"< {threshold:g}: share of detections with IoU below {threshold:g}; area b/a: median of area(b) / area(a)", caption_justify="left")
        table.add_column("pair (a vs b)", overflow="fold")
        _pair_columns(table, threshold)
        for entry in report["pairs"]:
            table.add_row(*_cells(entry["pair"]), *_pair_cells(entry))
        console.print(table)
        labels = sorted(report["labels"], key=lambda e: (e["mean_iou"] is None, e["mean_iou"] or 0.0, e["label"], e["pair"]))
        if labels:
            shown = labels[:label_rows]
            more = len(labels) - len(shown)
            by_label = Table(title="per label, lowest mean IoU first", title_justify="left",
                             caption=f"{more} more rows in report.csv" if more else None, caption_justify="left")
            by_label.add_column("label", overflow="fold")
            if len(report["pairs"]) > 1:
                by_label.add_column("pair", overflow="fold")
            _pair_columns(by_label, threshold)
            for entry in shown:
                lead = [entry["label"], entry["pair"]] if len(report["pairs"]) > 1 else [entry["label"]]
                by_label.add_row(*_cells(*lead), *_pair_cells(entry))
            console.print(by_label)
    if show_backends and backends:
        per_backend = Table(title="per backend", title_justify="left")
        for column in ("backend", "images", "detections", "empty masks", "s / image", "failures"):
            per_backend.add_column(column, justify="left" if column == "backend" else "right")
        for entry in report["backend_stats"]:
            per_backend.add_row(*_cells(entry["backend"], entry["images"], entry["detections"], entry["empty_masks"],
                                        _num(entry["seconds_per_image"]), entry["failures"]))
        console.print(per_backend)
    if report["worst"]:
        several = len(report["pairs"]) > 1
        worst = Table(title="worst detections (lowest IoU of any pair): look at these panels first", title_justify="left")
        for column in ("IoU", "det", "label", *(("pair",) if several else ()), "panel"):
            worst.add_column(column, justify="right" if column in ("IoU", "det") else "left",
                             overflow="fold" if column == "panel" else "ellipsis")
        for entry in report["worst"]:
            worst.add_row(*_cells(_num(entry["iou"]), entry["detection"], entry["label"], *((entry["pair"],) if several else ()),
                                  entry["panel"] or entry["image"]))
        console.print(worst)
    if report.get("concepts") or report.get("concept_pairs"):
        render_concepts(console, report, label_rows)
    flagged = [e for e in report["backend_stats"] if e.get("flagged")]
    if flagged:
        names = list(flagged[0]["flags"])
        flags = Table(title="quality flags: masks to look at (report.json says what each means)", title_justify="left")
        for column in ("backend", "flagged", *names):
            flags.add_column(column, justify="left" if column == "backend" else "right", no_wrap=column != "backend")
        for entry in flagged:
            flags.add_row(*_cells(entry["backend"], f"{entry['flagged']} of {entry['detections']}",
                                  *(entry["flags"][name] for name in names)))
        console.print(flags)
    if files:
        console.print(Text(f"Report: {for_terminal(', '.join(files))}"))


def render_concepts(console: Console, report: Mapping[str, Any], label_rows: int = 12) -> None:
    """report.json's concept sections: each concept backend's instances against the detections, and the
    masks of every pair with a concept backend in it, paired by mask IoU."""
    concepts = report.get("concepts", [])
    if concepts:
        table = Table(title="concept backends: their instances paired with the detections by box IoU", title_justify="left",
                      caption="asked: concepts, summed over images; found: instances; missed: detections paired with no"
                              " instance; extra: instances paired with no detection",
                      caption_justify="left")
        table.add_column("backend", overflow="fold", min_width=12)
        for column in ("asked", "dets", "matched", "missed", "found", "extra", "box IoU"):
            table.add_column(column, justify="right", no_wrap=True)
        for entry in concepts:
            table.add_row(*_cells(entry["backend"], entry["concepts"], entry["detections"], entry["matched"],
                                  entry["missed"], entry["instances"], entry["extra"], _num(entry["mean_match_iou"])))
        console.print(table)
        rows = [(entry["backend"], label) for entry in concepts for label in entry["labels"]]
        rows.sort(key=lambda r: (-(r[1]["missed"] + r[1]["extra"]), r[1]["label"], r[0]))  # most unpaired first
        if rows:
            shown = rows[:label_rows]
            by_label = Table(title="concept backends per label, most unpaired first", title_justify="left",
                             caption=f"{len(rows) - len(shown)} more rows in report.csv" if len(rows) > len(shown) else None,
                             caption_justify="left")
            by_label.add_column("label", overflow="fold")
            if len(concepts) > 1:
                by_label.add_column("backend", overflow="fold")
            for column in ("dets", "matched", "missed", "found", "extra"):
                by_label.add_column(column, justify="right", no_wrap=True)
            for backend, entry in shown:
                lead = [entry["label"], backend] if len(concepts) > 1 else [entry["label"]]
                by_label.add_row(*_cells(*lead, entry["detections"], entry["matched"], entry["missed"], entry["instances"],
                                         entry["extra"]))
            console.print(by_label)
    pairs = report.get("concept_pairs", [])
    if pairs:
        table = Table(title="masks paired by mask IoU, for pairs with a concept backend", title_justify="left",
                      caption="only a / only b: masks of one side paired with none of the other's", caption_justify="left")
        table.add_column("pair (a vs b)", overflow="fold")
        for column in ("images", "matched", "mean IoU", "median", "only a", "only b"):
            table.add_column(column, justify="right", no_wrap=True)
        for entry in pairs:
            table.add_row(*_cells(entry["pair"], entry["images"], entry["matched"], _num(entry["mean_iou"]),
                                  _num(entry["median_iou"]), entry["only_a"], entry["only_b"]))
        console.print(table)
