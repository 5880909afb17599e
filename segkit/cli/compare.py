"""`segkit compare`: rebuild every comparison of an output folder from the masks already written."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from segkit.cli.app import (
    CocoOpt,
    ConfigOpt,
    HtmlOpt,
    IouThresholdOpt,
    WorstOpt,
    app,
    console,
    count_line,
    fail,
    failed,
    say,
    warn,
)
from segkit.cli.eval_tables import show_scoring_and_page
from segkit.cli.progress import CliEvents
from segkit.cli.run_tables import render_report
from segkit.config import find_config, load_settings
from segkit.errors import SegkitError
from segkit.pipeline.compare import CompareJob, compare_job


@app.command(help=(
    "Compare every backend in an output folder from the masks already written, without running any model:"
    " rebuilds json/<stem>.json, the panels and report.json/report.csv. To compare runs made on different"
    " machines, copy their output folders into one (cp -r, rsync) and compare that."
))
def compare(
    out_dir: Path = typer.Argument(..., help="Output folder of `segkit run`, or several merged into one."),
    backend: List[str] = typer.Option([], "--backend", "-b", help="Compare only these backends, in this order (default: all; the last report's order, then by name)."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Folder of the original images, for the panels (default: where the run read them)."),
    panels: bool = typer.Option(True, "--panels/--no-panels", help="Redraw the panels (needs the original images); --no-panels keeps the existing ones."),
    disagree: bool = typer.Option(False, "--panels-disagree", help="Redraw panels only for images where a pair of backends is below --iou-threshold."),
    iou_threshold: float = IouThresholdOpt,
    worst: int = WorstOpt,
    coco: bool = CocoOpt,
    html: bool = HtmlOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    try:
        settings = load_settings(find_config(config))
        job = CompareJob(out=out_dir, backends=backend, images=images, panels=panels,
                         panel_mode="disagree" if disagree else "all", coco=coco, iou_threshold=iou_threshold, worst=worst,
                         html=html, viz=settings.viz, quality=settings.quality, limits=settings.limits)
        with CliEvents("comparing", transient=True) as events:
            result = compare_job(job, events, on_image=lambda _: events.advance())
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    for problem in result.problems:
        failed(problem)
    missing = result.images_missing
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warn(f"panels of {len(missing)} image(s) not redrawn, the original image was not found where the run read it"
             f" ({shown}); pass --images DIR, or --no-panels to keep the existing panels")
    render_report(console, result.report, [str(p) for p in result.files])
    say(f"{result.compared} images compared ({', '.join(result.backends)}), {len(result.panels('redrawn'))} panels"
        f" redrawn, in {result.seconds:.1f} s. Outputs in {out_dir}")
    show_scoring_and_page(result)
    if result.problems:
        count_line(len(result.problems), "image(s) could not be compared", " and are left out of the report")
    raise typer.Exit(result.exit_code)
