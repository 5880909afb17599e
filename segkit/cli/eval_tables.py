"""The evaluation as the terminal shows it, from eval.json's structure alone.

Labels, backend names and paths are data: every cell and line that holds one is a plain ``Text`` made
terminal-safe by ``segkit.text.for_terminal`` (never parsed as markup, control characters escaped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from segkit.cli.app import console, count_line, error, failed, page_line
from segkit.evaluation.folder import EvalResult
from segkit.text import for_terminal


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


BASELINE_NAME = "(box)"  # parentheses: no backend can be named so


def _text(value: Any, style: str = "") -> Text:
    return Text(for_terminal(value), style=style)


def _name(entry: Mapping[str, Any]) -> Text:
    return _text(BASELINE_NAME, "dim") if entry["baseline"] else _text(entry["backend"])


def _shown_path(path: str) -> str:
    """A path relative to the current folder when it lies inside it: shorter on the terminal."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _listing(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def render_evaluation(console: Console, doc: Mapping[str, Any], files: Sequence[str], label_rows: int = 10, worst_rows: int = 3) -> None:
    gt = doc["ground_truth"]
    how = "class-aware (label map)" if doc["class_aware"] else "class-agnostic"
    rule = "class region inside the box" if gt["format"] == "semantic" else f"box IoU ≥ {doc['iou_match']:g}"
    console.print(Text.assemble(
        ("Against ground truth", "bold"),
        f" {for_terminal(_shown_path(gt['path']))} ({gt['format']}): {doc['images']} images, {doc['detections']}"
        f" detections, {doc['matched']} matched ({rule}, {how}), {doc['false_positives']} false positives,"
        f" {doc['misses']} ground truth missed" + (f", {doc['unmapped']} unmapped" if doc["unmapped"] else ""),
    ))
    rows = doc["per_backend"]
    table = Table(title="mask IoU against ground truth (matched detections)", title_justify="left",
                  caption=f"{BASELINE_NAME}: the detection box itself as the mask, a baseline to beat. boundary IoU: Cheng et al."
                          f" 2021, band {100 * doc['boundary_dilation_ratio']:g}% of the image diagonal. < 0.5, < 0.75: share"
                          " with IoU below. best: detections where the backend is closest (ties shared)",
                  caption_justify="left")
    table.add_column("backend", overflow="fold")
    concept = doc.get("concept_backends") or []
    own = ("FP", "missed") if concept else ()  # concept backends find their own instances: their own errors
    for column in ("n", "mean IoU", "median", "boundary IoU", "< 0.5", "< 0.75", "best", *own):
        table.add_column(column, justify="right", no_wrap=column != "boundary IoU")
    for e in rows:
        errors = (_count(e["false_positives"]), _count(e["misses"])) if own else ()
        table.add_row(_name(e), str(e["matched"]), _num(e["mean_iou"]), _num(e["median_iou"]), _num(e["mean_boundary_iou"]),
                      _share(e["fraction_under_50"]), _share(e["fraction_under_75"]), _count(e["best"]), *errors)
    console.print(table)
    if concept:
        console.print(_text(f"{', '.join(concept)}: found their own instances; n, FP and missed count those instances"
                            " (the other rows: the detections)"))

    if any(e["ap"] is not None for e in rows):
        ap = Table(title="mask AP (COCOeval segm)", title_justify="left",
                   caption="score: mask score × detection confidence. worse than box: matched detections whose mask is"
                           " further from the ground truth than the box itself", caption_justify="left")
        ap.add_column("backend", overflow="fold")
        for column in ("AP", "AP50", "AP75", "worse than box"):
            ap.add_column(column, justify="right", no_wrap=column != "worse than box")
        for e in rows:
            ap.add_row(_name(e), _num(e["ap"]), _num(e["ap50"]), _num(e["ap75"]), "-" if e["worse_than_box"] is None else str(e["worse_than_box"]))
        console.print(ap)

    _render_labels(console, doc, label_rows)
    _render_worst(console, doc, worst_rows)

    fps = [f"{f['image']} det {f['detection']} ({f['label']})" for f in doc["unmatched_detections"]]
    if fps:
        console.print(_text(f"false positives (no ground truth): {_listing(fps)}"))
    missed = [f"{m['image']} gt {m['gt_id']}" + (f" ({m['category']})" if m["category"] else "") for m in doc["missed_ground_truth"]]
    if missed:
        console.print(_text(f"missed ground truth: {_listing(missed)}"))
    skipped = doc["images_without_ground_truth"]
    if skipped:
        console.print(Text.assemble((f"{len(skipped)} image(s) without ground truth, skipped:", "yellow"), " ",
                                    for_terminal(_listing(skipped))))
    if files:
        console.print(_text(f"Evaluation: {', '.join(files)}"))


def _render_labels(console: Console, doc: Mapping[str, Any], limit: int) -> None:
    """Mean IoU per label and backend, the labels where the best backend does worst first."""
    by_label: dict[str, dict[str, Mapping[str, Any]]] = {}
    for e in doc["per_label"]:
        by_label.setdefault(e["label"], {})["\0box" if e["baseline"] else e["backend"]] = e
    if not by_label:
        return
    backends = doc["backends"]

    def hardest(label: str) -> tuple:
        means = [by_label[label][b]["mean_iou"] for b in backends if b in by_label[label] and by_label[label][b]["mean_iou"] is not None]
        return (max(means) if means else 2.0, label)

    labels = sorted(by_label, key=hardest)
    shown = labels[:limit]
    more = len(labels) - len(shown)
    what = "category" if doc["class_aware"] else "label"
    table = Table(title=f"mean IoU against ground truth per {what}, hardest first", title_justify="left",
                  caption=f"{more} more in eval.csv" if more else None, caption_justify="left")
    table.add_column(what, overflow="fold")
    table.add_column("n", justify="right", no_wrap=True)
    for name in backends:
        table.add_column(_text(name), justify="right", overflow="fold")
    table.add_column(BASELINE_NAME, justify="right", style="dim", no_wrap=True)
    for label in shown:
        entries = by_label[label]
        box = entries.get("\0box")  # none for a label only a concept backend's instances have
        cells = [_num(entries[b]["mean_iou"]) if b in entries else "-" for b in backends]
        table.add_row(_text(label), str(box["matched"]) if box else "-", *cells, _num(box["mean_iou"]) if box else "-")
    console.print(table)


def _render_worst(console: Console, doc: Mapping[str, Any], limit: int) -> None:
    rows = [(name, entry) for name, entries in doc["worst"].items() for entry in entries[:limit]]
    if not rows:
        return
    several = len(doc["worst"]) > 1
    table = Table(title="worst detections against ground truth: look at these panels", title_justify="left")
    columns = (*(("backend",) if several else ()), "IoU", BASELINE_NAME, "det", "label", "panel")
    for column in columns:
        table.add_column(column, justify="right" if column in ("IoU", BASELINE_NAME, "det") else "left",
                         no_wrap=column in ("IoU", BASELINE_NAME, "det"), overflow="fold")
    for name, e in rows:
        which = str(e["detection"]) if "detection" in e else f"inst {e['instance']}"  # a concept backend's instance
        table.add_row(*((_text(name),) if several else ()), _num(e["iou"]), _num(e["baseline_iou"]), which,
                      _text(e["label"]), _text(e["panel"] or e["image"]))
    console.print(table)


def show_evaluation(result: EvalResult) -> None:
    """The evaluation's tables, with one line per image that could not be scored."""
    for problem in result.problems:
        failed(problem)
    render_evaluation(console, result.document.model_dump(mode="json"), [str(p) for p in result.files])
    if result.problems:
        count_line(len(result.problems), "image(s) could not be scored", " and are left out of the evaluation")


def show_scoring_and_page(result: Any) -> None:
    """What `run` and `compare` end with: the scoring against --gt (or why it failed), and the page."""
    if result.evaluation is not None:
        show_evaluation(result.evaluation)
    elif result.evaluation_error is not None:
        error(f"evaluation: {result.evaluation_error}")
    page_line(result.page)
