"""The closing table of a run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from segkit.runner import RunSummary


def render_summary(console: Console, summary: RunSummary, out_dir: str) -> None:
    table = Table(title="segkit run", title_justify="left")
    for column in ("backend", "images", "detections", "masks", "failures", "s / image", "load s"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for name, stats in summary.backends.items():
        per_image = stats.seconds_per_image
        table.add_row(
            name,
            str(stats.images),
            str(stats.boxes),
            str(stats.masks),
            str(stats.failures),
            f"{per_image:.3f}" if per_image is not None else "-",
            f"{stats.load_seconds:.2f}",
        )
    console.print(table)
    done = summary.count("done")
    parts = [f"{len(summary.outcomes)} images", f"{done} segmented"]
    for status, words in (("complete", "already complete (use --force to redo)"), ("failed", "failed"),
                          ("no-detections", "without detections"), ("not-run", "not run")):
        if summary.count(status):
            parts.append(f"{summary.count(status)} {words}")
    rate = f", {done / summary.seconds:.2f} images/s" if done and summary.seconds > 0 else ""
    console.print(f"{', '.join(parts)} in {summary.seconds:.1f} s{rate}. Outputs in {out_dir}")
