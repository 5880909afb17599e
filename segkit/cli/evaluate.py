"""The CLI side of evaluation: the body of `segkit eval`, and the one call `run` and `compare` make after
writing their outputs (evaluate with --gt, or re-run the folder's last evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from segkit.cli.eval_tables import render_evaluation
from segkit.config import find_config, load_settings
from segkit.errors import SegkitError
from segkit.evaluation.folder import (
    DEFAULT_IOU_MATCH,
    DEFAULT_WORST,
    EvalOptions,
    EvalResult,
    evaluate_folder,
    stored_options,
)
from segkit.evaluation.ground_truth.base import GroundTruthCoversNothing
from segkit.evaluation.ground_truth.formats import FORMATS
from segkit.evaluation.scoring import ImageEval
from segkit.outputs.layout import OutputLayout
from segkit.redact import redact
from segkit.text import for_terminal


def _line(console: Console, tag: str, message: str) -> None:
    """``error:``, ``warning:`` or ``failed:`` and one message line: masked, never markup, controls escaped."""
    style = {"error:": "bold red", "warning:": "yellow", "failed:": "red"}[tag]
    console.print(Text.assemble((tag, style), " ", for_terminal(redact(message))), soft_wrap=True)


def evaluate_with_progress(out_dir: Path, options: EvalOptions, err_console: Console, stems: Sequence[str] | None = None) -> EvalResult:
    progress = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal)
    with progress:
        task = progress.add_task("scoring against ground truth", total=len(stems) if stems is not None else None)

        def on_image(_: ImageEval) -> None:
            progress.advance(task)

        return evaluate_folder(out_dir, options, stems, on_image)


def show_result(console: Console, err_console: Console, result: EvalResult) -> int:
    """Print the evaluation and its skipped images; the exit code: 1 when some image could not be scored."""
    for problem in result.problems:
        _line(err_console, "failed:", problem)
    render_evaluation(console, result.document, [str(p) for p in result.files])
    if result.problems:
        err_console.print(f"[bold red]{len(result.problems)} image(s) could not be scored[/] and are left out of the evaluation",
                          highlight=False)
        return 1
    return 0


def eval_command(console: Console, err_console: Console, out_dir: Path, options: EvalOptions) -> int:
    """`segkit eval OUT --gt FILE`: the exit code (2 with one `error:` line when nothing can be scored)."""
    try:
        result = evaluate_with_progress(out_dir, options, err_console)
    except SegkitError as exc:
        _line(err_console, "error:", str(exc))
        return exc.exit_code
    return show_result(console, err_console, result)


def write_page(console: Console, err_console: Console, out_dir: Path) -> int:
    """report.html with the scores; a folder without report.json (no comparison yet) gets a warning, not an error."""
    from segkit.html_report import (
        write_html_report,  # here: the page module reads what this one writes
    )
    try:
        console.print(Text.assemble("Report page: ", for_terminal(str(write_html_report(out_dir))), " (open it in a browser)"))
    except SegkitError as exc:  # HtmlReportError included: one warning, the scores and the exit code stand
        _line(err_console, "warning:", f"report.html not written: {exc}")
    return 0


def run_ground_truth(flag: Path | None, config: Path | None) -> tuple[Path | None, bool]:
    """The ground truth a run ends by scoring against: --gt / $SEGKIT_GT, else `gt:` in the config; and
    whether it came from the config."""
    if flag is not None:
        return flag, False
    settings = load_settings(find_config(config))
    return settings.gt, settings.gt is not None


def evaluate_after(console: Console, err_console: Console, out_dir: Path, gt: Path | None = None, gt_from_config: bool = False,
                   *, stems: Sequence[str] | None = None, backends: Sequence[str] = ()) -> int:
    """After `segkit run` or `segkit compare` wrote the image records: score them against ``gt``, or, with no
    ``gt``, re-run the folder's last evaluation (its eval.json) so that no record loses its ground-truth
    entries. Returns the exit code the evaluation adds (0 when there is nothing to evaluate).

    With ``gt`` the options of the folder's last evaluation are kept when it used the same ground truth
    (a label map, say). Ground truth from the config file that covers none of the images is a warning,
    not an error: the config's example ground truth does not fit a run on other images.
    """
    if stems is not None and not stems:
        return 0  # the run wrote no image record: nothing to score
    layout = OutputLayout(out_dir)
    previous = stored_options(layout)
    if gt is not None:
        same = previous is not None and Path(previous.gt).resolve() == Path(gt).resolve()
        options = previous if same else EvalOptions(Path(gt))
    elif previous is not None:
        options = previous
        if not options.gt.exists():
            _line(err_console, "warning:", f"{layout.eval_json_path} was made against {options.gt}, which is not there"
                  f" any more: the rewritten image records have no ground-truth entries; run `segkit eval {out_dir} --gt FILE`")
            return 0
    else:
        return 0
    options.backends = list(backends)
    try:
        result = evaluate_with_progress(out_dir, options, err_console, stems)
    except SegkitError as exc:
        if gt_from_config and isinstance(exc, GroundTruthCoversNothing):
            _line(err_console, "warning:", f"not evaluated: {exc} (or set `gt:` in the config)")
            return 0
        _line(err_console, "error:", f"evaluation: {exc}")
        return exc.exit_code
    return show_result(console, err_console, result)


EVAL_HELP = (
    "Score the masks already in an output folder against ground truth, without running any model: per backend"
    " and per label mask IoU, boundary IoU and COCO mask AP, the box itself as a baseline, misses and false"
    " positives. Writes OUT/eval.json, OUT/eval.csv and each detection's scores into json/<stem>.json."
)


def make_eval_command(console: Console, err_console: Console):
    """The `segkit eval` command function, printing to the CLI's consoles (registered by segkit.cli.commands)."""

    def eval_(
        out_dir: Path = typer.Argument(..., help="Output folder of `segkit run` (or of a compare of merged folders)."),
        gt: Optional[Path] = typer.Option(None, "--gt", envvar="SEGKIT_GT", help="Ground truth: COCO instance JSON, or a folder of mask PNGs (default: `gt:` in the config)."),
        gt_format: str = typer.Option("auto", "--gt-format", help=f"Ground-truth format: {', '.join(FORMATS)} (auto: COCO for a file, semantic with --gt-classes, else instance PNGs)."),
        gt_classes: Optional[Path] = typer.Option(None, "--gt-classes", help="Semantic masks: the class-name file ('<id> <name>' or '<name>' per line)."),
        label_map: Optional[Path] = typer.Option(None, "--label-map", help="YAML/JSON {detector label: category}: class-aware matching, results per category."),
        iou_match: float = typer.Option(DEFAULT_IOU_MATCH, "--iou-match", min=0.0, max=1.0, help="Box IoU a detection needs to match a ground-truth instance (COCO: 0.5)."),
        worst: int = typer.Option(DEFAULT_WORST, "--worst", min=0, help="How many lowest-IoU detections eval.json lists per backend."),
        backend: List[str] = typer.Option([], "--backend", "-b", help="Score only these backends, in this order (default: all in the folder)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", envvar="SEGKIT_CONFIG", help="YAML config (default: ./configs/default.yaml if present)."),
        html: bool = typer.Option(True, "--html/--no-html", envvar="SEGKIT_HTML", help="Rewrite OUT/report.html with the scores (see `segkit run --help`)."),
    ) -> None:
        try:
            settings = load_settings(find_config(config))
        except SegkitError as exc:
            _line(err_console, "error:", str(exc))
            raise typer.Exit(exc.exit_code)
        source = gt or settings.gt
        if source is None:
            _line(err_console, "error:", "no ground truth; pass --gt FILE|DIR or set `gt:` in the config")
            raise typer.Exit(2)
        options = EvalOptions(source, gt_format, gt_classes, label_map, iou_match, worst=worst, backends=backend)
        code = eval_command(console, err_console, out_dir, options)
        if html and code != 2:  # 2: nothing was scored, eval.json is as it was
            code = write_page(console, err_console, out_dir) or code
        raise typer.Exit(code)

    return eval_
