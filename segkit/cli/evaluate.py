"""`segkit eval`: score an output folder against ground truth; and how any command shows a scoring."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from segkit.cli.app import ConfigOpt, app, fail, page_line
from segkit.cli.eval_tables import show_evaluation
from segkit.cli.progress import CliEvents
from segkit.config import find_config, load_settings
from segkit.errors import SegkitError
from segkit.evaluation.folder import DEFAULT_IOU_MATCH, DEFAULT_WORST
from segkit.evaluation.ground_truth.formats import FORMATS
from segkit.pipeline.evaluate import EvalJob, eval_job

EVAL_HELP = (
    "Score the masks already in an output folder against ground truth, without running any model: per backend"
    " and per label mask IoU, boundary IoU and COCO mask AP, the box itself as a baseline, misses and false"
    " positives. Writes OUT/eval.json, OUT/eval.csv and each detection's scores into json/<stem>.json."
)


@app.command("eval", help=EVAL_HELP)
def eval_(
    out_dir: Path = typer.Argument(..., help="Output folder of `segkit run` (or of a compare of merged folders)."),
    gt: Optional[Path] = typer.Option(None, "--gt", envvar="SEGKIT_GT", help="Ground truth: COCO instance JSON, or a folder of mask PNGs (default: `gt:` in the config)."),
    gt_format: str = typer.Option("auto", "--gt-format", help=f"Ground-truth format: {', '.join(FORMATS)} (auto: COCO for a file, semantic with --gt-classes, else instance PNGs)."),
    gt_classes: Optional[Path] = typer.Option(None, "--gt-classes", help="Semantic masks: the class-name file ('<id> <name>' or '<name>' per line)."),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="YAML/JSON {detector label: category}: class-aware matching, results per category."),
    iou_match: float = typer.Option(DEFAULT_IOU_MATCH, "--iou-match", min=0.0, max=1.0, help="Box IoU a detection needs to match a ground-truth instance (COCO: 0.5)."),
    worst: int = typer.Option(DEFAULT_WORST, "--worst", min=0, help="How many lowest-IoU detections eval.json lists per backend."),
    backend: List[str] = typer.Option([], "--backend", "-b", help="Score only these backends, in this order (default: all in the folder)."),
    config: Optional[Path] = ConfigOpt,
    html: bool = typer.Option(True, "--html/--no-html", envvar="SEGKIT_HTML", help="Rewrite OUT/report.html with the scores (see `segkit run --help`)."),
) -> None:
    try:
        settings = load_settings(find_config(config))
        source = gt or settings.gt
        if source is None:
            fail("no ground truth; pass --gt FILE|DIR or set `gt:` in the config")
        job = EvalJob(out=out_dir, gt=source, gt_format=gt_format, gt_classes=gt_classes, label_map=label_map,
                      iou_match=iou_match, worst=worst, backends=backend, html=html, limits=settings.limits)
        with CliEvents(transient=True) as events:
            result = eval_job(job, events)
    except SegkitError as exc:  # nothing could be scored: eval.json is as it was
        fail(str(exc), exc.exit_code)
    show_evaluation(result.evaluation)
    page_line(result.page)
    raise typer.Exit(result.exit_code)

