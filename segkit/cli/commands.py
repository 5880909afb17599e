"""The segkit command line: run, compare, detect, backends, plugins.

Settings come from built-in defaults, then the config file, then SEGKIT_* environment variables, then
flags. Expected problems end in one line on stderr and a non-zero exit; nothing already written is lost.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from typer.exceptions import TyperException

from segkit import __version__
from segkit.cli.evaluate import (
    EVAL_HELP,
    evaluate_after,
    make_eval_command,
    run_ground_truth,
)
from segkit.cli.run_tables import render_report, render_summary
from segkit.config import Settings, box_space_setting, find_config, load_settings
from segkit.errors import BackendFatalError, ConfigError, SegkitError, one_line
from segkit.html_report import write_html_report
from segkit.inputs.box_spaces import BOX_SPACE_HELP
from segkit.outputs.agreement import DEFAULT_IOU_THRESHOLD, DEFAULT_WORST, save_report
from segkit.outputs.files import remove_stale_temp_files
from segkit.outputs.layout import OutputLayout
from segkit.outputs.lock import OutputLock
from segkit.pipeline.compare import (
    CompareOptions,
    CompareResult,
    ImageComparison,
    check_folder,
    compare_folder,
)
from segkit.pipeline.detect import DetectJob, DetectOutcome, DetectSummary, detect_job
from segkit.pipeline.image_steps import ImageOutcome
from segkit.pipeline.job import HTML_NOT_REMOTE, RunEvents, RunJob, RunResult, run_job
from segkit.plugins.host import PluginHost, get_host
from segkit.plugins.options import check_families, parse_overrides, resolve_options
from segkit.redact import redact
from segkit.storage import is_remote
from segkit.text import for_terminal, json_for_terminal

app = typer.Typer(
    name="segkit",
    help="Boxes from a detector in, instance masks out: run any segmenter on the same boxes and compare them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
# Emoji codes (":warning:") in a label or file name stay text; input-derived text is printed as Text.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

PRECEDENCE = "Precedence: flag > SEGKIT_* environment variable > config file > built-in default."
ConfigOpt = typer.Option(None, "--config", "-c", envvar="SEGKIT_CONFIG", help="YAML config (default: ./configs/default.yaml if present).")
OptionOpt = typer.Option([], "--option", "-O", help="Backend option KEY.FIELD=VALUE, e.g. -O sam2.device=cpu (repeatable).")
IouThresholdOpt = typer.Option(
    DEFAULT_IOU_THRESHOLD, "--iou-threshold", envvar="SEGKIT_IOU_THRESHOLD", min=0.0, max=1.0,
    help="The report counts detections whose pair IoU is below this (0.5: COCO's match criterion).",
)
WorstOpt = typer.Option(DEFAULT_WORST, "--worst", envvar="SEGKIT_WORST", min=0, help="How many lowest-IoU detections the report lists.")
CocoOpt = typer.Option(False, "--coco", envvar="SEGKIT_COCO", help="Also write every backend's masks as COCO RLE annotations, OUT/coco/<backend>.json.")
HtmlOpt = typer.Option(True, "--html/--no-html", envvar="SEGKIT_HTML", help="Write OUT/report.html (open it in a browser; offline) with its pictures under OUT/html/.")


# Every message below may hold labels, file names or a plugin's words. It is printed as rich Text, never
# parsed as markup, with secrets masked and control characters shown as escapes (segkit.text).


def safe_line(message: Any, prefix: str = "", style: str = "") -> Text:
    """A message as one terminal-safe line of Text, after a styled ``prefix`` (``error:``)."""
    text = for_terminal(redact(str(message)))
    return Text.assemble((prefix, style), " ", text) if prefix else Text(text)


def fail(message: str, code: int = 2) -> None:
    err_console.print(safe_line(message, "error:", "bold red"), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str, target: Console | None = None) -> None:
    (target or err_console).print(safe_line(message, "warning:", "yellow"), soft_wrap=True)


def failed(message: str, target: Console | None = None) -> None:
    """One image (or one backend on one image) failed; the run goes on."""
    (target or err_console).print(safe_line(message, "failed:", "red"), soft_wrap=True)


def say(message: str, target: Console | None = None) -> None:
    """A plain line on stdout that mentions paths or names."""
    (target or console).print(safe_line(message))


def report_plugin_problems(host: PluginHost) -> None:
    for problem in host.problems:
        warn(f"plugin {problem.plugin}: {problem.message}")


def checked_overrides(host: PluginHost, settings: Settings, option: Sequence[str]) -> dict[str, dict[str, str]]:
    """``-O`` flags parsed, and every options family (flags and config) checked against the installed plugins."""
    overrides = parse_overrides(option)
    installed = host.option_families()
    for message in check_families(settings.options, overrides, installed):
        warn(message)
    return overrides


def _print_version(value: bool) -> None:
    if value:  # a callback, so that it runs while parsing, before click asks for a command
        console.print(f"segkit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                       callback=_print_version)) -> None:
    pass


@app.command(help=f"Segment every detection of every image with one or more backends. {PRECEDENCE}")
def run(
    backend: List[str] = typer.Option([], "--backend", "-b", envvar="SEGKIT_BACKEND", help="Backend name (repeatable); see `segkit backends`."),
    images: Optional[str] = typer.Option(None, "--images", "-i", envvar="SEGKIT_IMAGES", help="Folder of images, or a URL (s3://bucket/prefix)."),
    detections: Optional[str] = typer.Option(None, "--detections", "-d", envvar="SEGKIT_DETECTIONS", help="Folder of per-image detection files, or one file (COCO); or a URL."),
    out: Optional[str] = typer.Option(None, "--out", "-o", envvar="SEGKIT_OUT", help="Output folder, or a URL prefix (s3://bucket/prefix)."),
    conf: Optional[float] = typer.Option(None, "--conf", envvar="SEGKIT_CONF", min=0.0, max=1.0, help="Skip detections below this confidence (default from config)."),
    reader: Optional[str] = typer.Option(None, "--reader", envvar="SEGKIT_READER", help="Detection format: auto, qwen-json, qwen-grounding, coco, or a plugin's."),
    box_space: Optional[str] = typer.Option(None, "--box-space", envvar="SEGKIT_BOX_SPACE", help=BOX_SPACE_HELP),
    input_size: Optional[str] = typer.Option(None, "--input-size", envvar="SEGKIT_INPUT_SIZE", help="The old name of --box-space."),
    mask_format: Optional[str] = typer.Option(None, "--mask-format", envvar="SEGKIT_MASK_FORMAT", help="png: one 1-bit PNG per mask (default); rle: COCO RLE inside the backend records, no files."),
    panels: Optional[str] = typer.Option(None, "--panels", envvar="SEGKIT_PANELS", help="all (default), disagree: only images where a pair of backends is below --iou-threshold, none."),
    no_panels: bool = typer.Option(False, "--no-panels", help="Draw no panels (same as --panels none)."),
    force: bool = typer.Option(False, "--force", help="Redo images whose outputs are already complete."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Process only the first N images."),
    iou_threshold: float = IouThresholdOpt,
    worst: int = WorstOpt,
    coco: bool = CocoOpt,
    html: bool = HtmlOpt,
    option: List[str] = OptionOpt,
    config: Optional[Path] = ConfigOpt,
    gt: Optional[Path] = typer.Option(None, "--gt", envvar="SEGKIT_GT", help="Ground truth to score the masks against at the end (see `segkit eval`; default: `gt:` in the config)."),
    engine: Optional[str] = typer.Option(None, "--engine", envvar="SEGKIT_ENGINE", help="local (default): this machine; ray: a Ray cluster (pip install 'segkit\\[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", envvar="SEGKIT_RAY_ADDRESS", help="With --engine ray: auto, HOST:PORT or ray://HOST:10001 (default: start Ray on this machine)."),
    actors: Optional[int] = typer.Option(None, "--actors", envvar="SEGKIT_ACTORS", min=1, help="With --engine ray: actors per backend (default: as many as the GPUs allow, else 1)."),
    gpus_per_actor: Optional[float] = typer.Option(None, "--gpus-per-actor", envvar="SEGKIT_GPUS_PER_ACTOR", min=0.0, help="With --engine ray: GPUs per backend actor (default: 1 when the cluster has GPUs, else 0)."),
) -> None:
    try:
        job = _run_job(backend, images, detections, out, conf, reader, (box_space, input_size), mask_format, panels, no_panels,
                       force, limit, option, config, iou_threshold, worst, coco)
        job = _with_engine(job, engine, ray_address, actors, gpus_per_actor).model_copy(update={"page": html})
        truth = run_ground_truth(gt, config)
        events = _CliEvents()
        try:
            result = run_job(job, events)
        finally:
            events.stop()
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:  # images in flight were finished; every file is whole
        fail("interrupted; the images already written are kept: run the same command again to continue", 130)
    code = _finish_run(result)
    code = evaluate_after(console, err_console, result.layout.root, *truth, backends=result.report["backends"],
                          stems=[o.image.stem for o in result.summary.outcomes if o.record is not None]) or code
    if html:
        _write_page(result.layout.root, job.images)
    raise typer.Exit(code)


def _choice(value: str | None, default: str, flag: str, allowed: tuple[str, ...]) -> str:
    chosen = (value if value is not None else default).strip().lower()
    if chosen not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    return chosen


def _run_job(backend_names, images, detections, out, conf, reader, input_size, mask_format, panels, no_panels, force,
             limit, option, config, iou_threshold, worst, coco) -> RunJob:
    """The job `segkit run` was asked for: flags over environment over config over defaults."""
    settings = load_settings(find_config(config))
    names = list(backend_names) or settings.backends
    if not names:
        raise ConfigError("no backend chosen; pass --backend NAME (see `segkit backends`) or set `backends:` in the config")
    images_dir = images or settings.images
    det_source = detections or settings.detections
    if images_dir is None:
        raise ConfigError("no image folder; pass --images DIR or set `images:` in the config")
    if det_source is None:
        raise ConfigError("no detections; pass --detections DIR|FILE or set `detections:` in the config")
    panel_mode = "none" if no_panels else _choice(panels, settings.panels, "--panels", ("all", "disagree", "none"))
    return RunJob(
        backends=names,
        images=images_dir,
        detections=det_source,
        out=out or settings.out,
        conf=settings.conf if conf is None else conf,
        reader=reader or settings.reader,
        box_space=box_space_setting(*input_size, settings),  # (--box-space, --input-size)
        force=force,
        limit=limit,
        mask_format=_choice(mask_format, settings.mask_format, "--mask-format", ("png", "rle")),
        panels=panel_mode,
        iou_threshold=iou_threshold,
        worst=worst,
        coco=coco,
        html=False,  # the CLI writes report.html itself, after the evaluation it shows
        options=settings.options,
        overrides=parse_overrides(option),
        viz=settings.viz,
        quality=settings.quality,
        limits=settings.limits,
        engine=settings.engine,
        ray=settings.ray,
    )


def _with_engine(job: RunJob, engine: str | None, address: str | None, actors: int | None, gpus: float | None) -> RunJob:
    """The job with the engine flags over the config's `engine:` and `ray:` settings."""
    settings = job.ray.model_copy(update={k: v for k, v in
                                          (("address", address), ("actors", actors), ("gpus_per_actor", gpus)) if v is not None})
    chosen = _choice(engine, job.engine, "--engine", ("local", "ray"))
    if chosen == "local" and settings != job.ray:
        raise ConfigError("--ray-address, --actors and --gpus-per-actor need --engine ray")
    return job.model_copy(update={"engine": chosen, "ray": settings})


class _CliEvents(RunEvents):
    """Prints a run's progress: warnings and failures as they happen, a progress bar on a terminal."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task = None

    def warning(self, message: str) -> None:
        warn(message, self.progress.console if self.progress else None)

    @contextmanager
    def loading(self, backend: str):
        with err_console.status(f"loading {backend}…"):
            yield

    def started(self, images: int, backends: list[str]) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False,
            disable=not err_console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task(f"segmenting with {', '.join(backends)}", total=images)

    def image_done(self, outcome: ImageOutcome) -> None:
        assert self.progress is not None
        for message in outcome.warnings:
            warn(message, self.progress.console)
        for backend, message in outcome.errors:
            failed(f"{backend}: {message}" if backend else message, self.progress.console)
        self.progress.advance(self.task)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _finish_run(result: RunResult) -> int:
    """Print the closing tables of a run; its exit code."""
    summary = result.summary
    out_dir = str(result.layout.root)
    render_summary(console, summary, out_dir)
    render_report(console, result.report, [str(p) for p in result.files], show_backends=False)
    if result.other_backends:
        say(f"{out_dir} also holds results of {', '.join(result.other_backends)} (other runs or machines);"
            f" `segkit compare {out_dir}` compares every backend in it.")
    if summary.fatal:
        fail(f"run stopped: {summary.fatal}", BackendFatalError.exit_code)
    if summary.failures:
        err_console.print(Text.assemble((f"{result.failed_images} image(s) failed", "bold red"),
                                        safe_line(f"; details in {result.layout.failures_path}")))
        return 1
    return 0


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
        options = CompareOptions(backend, images, panels, coco, iou_threshold, worst, settings.viz,
                                 panel_mode="disagree" if disagree else "all", limits=settings.limits, quality=settings.quality,
                                 page=html)
        layout = OutputLayout(out_dir)
        check_folder(layout)
        with OutputLock(out_dir):
            remove_stale_temp_files(layout)
            result = _compare_with_progress(out_dir, options)
            written = save_report(layout, result.report)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except OSError as exc:
        fail(f"cannot write the report in {out_dir} ({exc.strerror or exc}); free some space or make the folder writable", 1)
    written += result.coco_files
    for problem in result.problems:
        failed(problem)
    missing = result.images_missing
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warn(f"panels of {len(missing)} image(s) not redrawn, the original image was not found where the run read it"
             f" ({shown}); pass --images DIR, or --no-panels to keep the existing panels")
    render_report(console, result.report, [str(p) for p in written])
    compared = len(result.records)
    redrawn = len(result.panels("redrawn"))
    say(f"{compared} images compared ({', '.join(result.backends)}), {redrawn} panels redrawn,"
        f" in {result.seconds:.1f} s. Outputs in {out_dir}")
    eval_code = evaluate_after(console, err_console, out_dir, None, backends=result.backends)  # keeps eval.json current
    if html:
        _write_page(out_dir, images)
    if result.problems:
        err_console.print(f"[bold red]{len(result.problems)} image(s) could not be compared[/] and are left out of the report",
                          highlight=False)
        raise typer.Exit(1)
    raise typer.Exit(eval_code)


app.command("eval", help=EVAL_HELP)(make_eval_command(console, err_console))


def _write_page(out_dir: Path, images: Path | None) -> None:
    """report.html, once everything it shows is written (the report, and the evaluation when there is one)."""
    if is_remote(out_dir):
        warn(HTML_NOT_REMOTE)
        return
    try:
        say(f"Report page: {write_html_report(out_dir, images)} (open it in a browser)")
    except SegkitError as exc:  # the page is not worth the run's other outputs or its exit code
        warn(f"report.html not written: {exc}")


def _compare_with_progress(out_dir: Path, options: CompareOptions) -> CompareResult:
    progress = Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task("comparing", total=None)

        def on_image(outcome: ImageComparison) -> None:
            progress.advance(task)

        return compare_folder(out_dir, options, on_image)


@app.command(help=(
    "Ask a detector for the boxes of every image and write one detection file per image (the seed plan's Qwen"
    " JSON: normalized boxes, labels, the raw answer) for `segkit run --detections`. The `vlm` detector (plugin"
    " segkit-vlm) asks a vision-language model served behind an OpenAI-compatible chat completions API (vLLM,"
    " SGLang, Ollama, DashScope); its key comes from OPENAI_API_KEY. Options: -O vlm.FIELD=VALUE or SEGKIT_VLM_<FIELD>"
    f" (see `segkit plugins`). {PRECEDENCE}"
))
def detect(
    prompt: str = typer.Option(..., "--prompt", "-p", help="What to ask for, e.g. 'Locate every cup and plate, output their bbox_2d coordinates and labels in JSON.'"),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the detection files, one <stem>.json per image; give it to `segkit run -d`."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", envvar="SEGKIT_IMAGES", help="Folder of images."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The model's name on the server, e.g. Qwen/Qwen2.5-VL-7B-Instruct (option vlm.model)."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="Base URL of the API, e.g. http://localhost:8000/v1; requests go to {api_url}/chat/completions (option vlm.api_url)."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable that holds the API key (default OPENAI_API_KEY; unset: no key is sent)."),
    box_space: Optional[str] = typer.Option(None, "--box-space", help=BOX_SPACE_HELP + " Default: the model's, when its name says (Qwen2.5-VL, Qwen2-VL, Qwen3-VL)."),
    detector: str = typer.Option("vlm", "--detector", envvar="SEGKIT_DETECTOR", help="Detector to run; see `segkit plugins`."),
    force: bool = typer.Option(False, "--force", help="Ask again for images whose detection file is already there for this request."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Process only the first N images."),
    option: List[str] = OptionOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    try:
        settings = load_settings(find_config(config))
        images_dir = images or settings.images
        if images_dir is None:
            raise ConfigError("no image folder; pass --images DIR or set `images:` in the config")
        if not prompt.strip():
            raise ConfigError("--prompt is empty; say what the model should find")
        flags = {name: value for name, value in (("model", model), ("api_url", api_url), ("api_key_env", api_key_env))
                 if value is not None}
        host = get_host()
        overrides = checked_overrides(host, settings, option)
        report_plugin_problems(host)
        job = DetectJob(images=images_dir, out=out, prompt=prompt, detector=detector, box_space=box_space, force=force,
                        limit=limit, flags=flags, options=settings.options, overrides=overrides, limits=settings.limits)
        summary = _detect_with_progress(job, host)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; the detection files already written are kept: run the same command again to continue", 130)
    found = sum(o.detections for o in summary.outcomes if o.status in ("done", "complete"))
    say(f"{summary.count('done')} images asked, {summary.count('complete')} already done, {len(summary.failures)} failed;"
        f" {found} boxes, in {summary.seconds:.1f} s. Detection files in {out}; segment them with"
        f" `segkit run --detections {out}`.")
    if summary.fatal is not None:
        left = summary.count("not-run")
        fail(f"stopped: {summary.fatal}" + (f" ({left} image(s) not asked)" if left else ""), summary.fatal.exit_code)
    if summary.failures:
        err_console.print(Text(f"{len(summary.failures)} image(s) failed", "bold red"))
        raise typer.Exit(1)


def _detect_with_progress(job: DetectJob, host: PluginHost) -> DetectSummary:
    progress = Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False, disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task(f"asking {job.detector}", total=None)

        def on_image(outcome: DetectOutcome) -> None:
            for message in outcome.warnings:
                warn(message, progress.console)
            if outcome.error:
                failed(outcome.error, progress.console)
            progress.advance(task)

        return detect_job(job, on_image, lambda message: warn(message, progress.console), host)


@app.command(help=f"List every backend, the plugin it comes from, and whether it is ready here. {PRECEDENCE}")
def backends(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    option: List[str] = OptionOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    host = get_host()
    try:
        settings = load_settings(find_config(config))
        overrides = checked_overrides(host, settings, option)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    rows = []
    for entry in host.backends().values():
        try:
            readiness = entry.create(resolve_options(entry.cls, settings.options, overrides)).check_ready()
            ready, reason = readiness.ready, readiness.reason
        except Exception as exc:  # a broken readiness check is itself the answer
            ready, reason = False, one_line(exc)
        rows.append({
            "name": entry.name,
            "aliases": list(entry.aliases),
            "plugin": entry.plugin,
            "ready": ready,
            "reason": redact(reason),
            "description": entry.description,
        })
    if as_json:
        print(json_for_terminal({"backends": rows, "problems": _problems(host)}))
        return
    report_plugin_problems(host)
    table = Table(title="segkit backends", title_justify="left")
    for column in ("backend", "plugin", "ready", "details"):
        table.add_column(column)
    for row in rows:
        name = row["name"] + (f" ({', '.join(row['aliases'])})" if row["aliases"] else "")
        status = Text("yes", style="green") if row["ready"] else Text("no", style="red")
        table.add_row(safe_line(name), safe_line(row["plugin"]), status, safe_line(row["reason"] or row["description"]))
    console.print(table)


@app.command(help="List loaded plugins, the hooks each implements, the detection readers and the detectors.")
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    host = get_host()
    rows = host.plugins()
    readers = [{"name": r.name, "plugin": r.plugin, "description": r.description} for r in host.readers().values()]
    try:
        options = load_settings(find_config(None)).options
    except SegkitError:
        options = {}  # `segkit run` reports a broken config; listing plugins does not need it
    detectors = [_detector_row(d, options) for d in host.detectors().values()]
    if as_json:
        print(json_for_terminal({"plugins": rows, "readers": readers, "detectors": detectors, "problems": _problems(host)}))
        return
    report_plugin_problems(host)
    table = Table(title="segkit plugins", title_justify="left")
    for column in ("plugin", "distribution", "hooks"):
        table.add_column(column)
    for row in rows:
        table.add_row(safe_line(row["name"]), safe_line(row["distribution"]), safe_line(", ".join(row["hooks"])))
    console.print(table)
    readers_table = Table(title="detection readers", title_justify="left")
    for column in ("reader", "plugin", "format"):
        readers_table.add_column(column)
    for row in readers:
        readers_table.add_row(safe_line(row["name"]), safe_line(row["plugin"]), safe_line(row["description"]))
    console.print(readers_table)
    detectors_table = Table(title="detectors (segkit detect)", title_justify="left")
    for column in ("detector", "plugin", "ready", "details"):
        detectors_table.add_column(column)
    for row in detectors:
        status = "[green]yes[/]" if row["ready"] else "[red]no[/]"
        detectors_table.add_row(safe_line(row["name"]), safe_line(row["plugin"]), status, safe_line(row["reason"] or row["description"]))
    if detectors:
        console.print(detectors_table)
    else:
        say("No detectors: `segkit detect` needs a detector plugin (pip install segkit-vlm).")


def _detector_row(entry, options: dict[str, Any]) -> dict[str, Any]:
    """A detector with its readiness under the config's and environment's options."""
    try:
        readiness = entry.create(resolve_options(entry.cls, options, {})).check_ready()
        ready, reason = readiness.ready, readiness.reason
    except Exception as exc:  # a broken readiness check is itself the answer
        ready, reason = False, one_line(exc)
    return {"name": entry.name, "aliases": list(entry.aliases), "plugin": entry.plugin, "ready": ready,
            "reason": redact(reason), "description": entry.description, "reader": entry.cls.reader,
            "options": entry.cls.options_key}


def _problems(host: PluginHost) -> list[dict[str, str]]:
    return [{"plugin": p.plugin, "message": redact(p.message)} for p in host.problems]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``segkit`` command; returns the exit code.

    Usage errors (a bad flag or SEGKIT_* value, an unknown command, a missing argument) end like every
    other bad argument: one ``error:`` line and exit 2. ``--help`` and ``--version`` print and exit 0;
    Ctrl-C exits 130.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args:  # bare `segkit`: the help, and the usage-error exit code
            app(args=["--help"], prog_name="segkit", standalone_mode=False)
            return 2
        code = app(args=args, prog_name="segkit", standalone_mode=False)
    except TyperException as exc:  # click's usage errors (typer vendors click)
        ctx = getattr(exc, "ctx", None)
        hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
        err_console.print(safe_line(exc.format_message().strip().rstrip(".") + hint, "error:", "bold red"), soft_wrap=True)
        return exc.exit_code
    except typer.Abort:
        err_console.print("[bold red]error:[/] aborted", highlight=False)
        return 1
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
