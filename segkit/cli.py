"""The segkit command line: run, compare, backends, plugins.

Settings come from built-in defaults, then the config file, then SEGKIT_* environment variables, then
flags. Expected problems end in one line on stderr and a non-zero exit; nothing already written is lost.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from typer.exceptions import TyperException

from segkit import __version__
from segkit.artifacts import OutputLayout, find_backend_records, remove_stale_temp_files, write_json
from segkit.boxes import parse_input_size
from segkit.coco_export import CocoExport
from segkit.compare import CompareOptions, CompareResult, ImageComparison, compare_folder
from segkit.config import Settings, find_config, load_settings
from segkit.detection_reader import ReaderContext
from segkit.detection_source import load_detections
from segkit.errors import BackendFatalError, BackendNotReady, ConfigError, SegkitError, one_line
from segkit.images import list_images
from segkit.options import check_families, option_families, parse_overrides, resolve_options
from segkit.plugins import PluginHost, get_host
from segkit.redact import redact
from segkit.report import DEFAULT_IOU_THRESHOLD, DEFAULT_WORST, build_report, save_report
from segkit.runner import ActiveBackend, ImageOutcome, RunPlan, Runner
from segkit.summary import render_report, render_summary
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
    """``-O`` flags parsed, and every options family (flags and config) checked against the installed backends."""
    overrides = parse_overrides(option)
    installed = option_families(entry.cls for entry in host.backends().values())
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
    images: Optional[Path] = typer.Option(None, "--images", "-i", envvar="SEGKIT_IMAGES", help="Folder of images."),
    detections: Optional[Path] = typer.Option(None, "--detections", "-d", envvar="SEGKIT_DETECTIONS", help="Folder of per-image detection files, or one file (COCO)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", envvar="SEGKIT_OUT", help="Output folder."),
    conf: Optional[float] = typer.Option(None, "--conf", envvar="SEGKIT_CONF", min=0.0, max=1.0, help="Skip detections below this confidence (default from config)."),
    reader: Optional[str] = typer.Option(None, "--reader", envvar="SEGKIT_READER", help="Detection format: auto, qwen-json, qwen-grounding, coco, or a plugin's."),
    input_size: Optional[str] = typer.Option(None, "--input-size", envvar="SEGKIT_INPUT_SIZE", help="Pixel boxes are of a resized input: WxH, or smart-resize[:MAX_PIXELS] for Qwen2.5-VL."),
    force: bool = typer.Option(False, "--force", help="Redo images whose outputs are already complete."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Process only the first N images."),
    iou_threshold: float = IouThresholdOpt,
    worst: int = WorstOpt,
    coco: bool = CocoOpt,
    option: List[str] = OptionOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    try:
        code = _run(backend, images, detections, out, conf, reader, input_size, force, limit, option, config,
                    iou_threshold, worst, coco)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:  # images in flight were finished; every file is whole
        fail("interrupted; the images already written are kept: run the same command again to continue", 130)
    raise typer.Exit(code)


def _run(backend_names, images, detections, out, conf, reader, input_size, force, limit, option, config,
         iou_threshold, worst, coco) -> int:
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
    out_dir = out or settings.out
    threshold = settings.conf if conf is None else conf
    reader_name = reader or settings.reader
    try:
        input_space = parse_input_size(input_size if input_size is not None else settings.input_size)
    except ValueError as exc:
        raise ConfigError(f"--input-size: {exc}") from exc

    host = get_host()
    host.backends()  # registration problems show up here
    report_plugin_problems(host)
    active = _prepare_backends(host, names, settings, checked_overrides(host, settings, option))
    readers = {name: entry.cls() for name, entry in host.readers().items()}
    if reader_name != "auto" and reader_name not in readers:
        host.reader(reader_name)  # raises the error that lists the readers

    image_paths = list_images(images_dir)
    image_paths = _drop_duplicate_stems(image_paths)
    if limit:
        image_paths = image_paths[:limit]
    index = load_detections(det_source, readers, reader_name, ReaderContext(input_space), settings.limits)
    for message in index.warnings:
        warn(message)
    layout = OutputLayout(out_dir)
    layout.create()
    remove_stale_temp_files(layout)

    _load_backends(active)
    plan = RunPlan(image_paths, index, layout, threshold, force, settings.viz, CocoExport() if coco else None,
                   limits=settings.limits)
    try:
        summary = _run_with_progress(plan, active)
    finally:
        for backend in active:
            backend.segmenter.close()

    for key, path in index.unused():
        if limit is None:
            warn(f"detections for {key!r} ({path or det_source}) match no image in {images_dir}; add the image or remove the entry")
    write_json(layout.failures_path, [_redacted(f) for f in summary.failures])
    names = [b.name for b in active]
    report = build_report([o.record for o in summary.outcomes if o.record is not None], names, iou_threshold, worst)
    written = save_report(layout, report)
    if plan.coco is not None:
        written += plan.coco.write(layout, names)
    render_summary(console, summary, str(out_dir))
    render_report(console, report, [str(p) for p in written], show_backends=False)
    others = sorted(set(find_backend_records(layout)) - set(names))
    if others:
        say(f"{out_dir} also holds results of {', '.join(others)} (other runs or machines);"
            f" `segkit compare {out_dir}` compares every backend in it.")
    failures = summary.failures
    if summary.fatal:
        fail(f"run stopped: {summary.fatal}", BackendFatalError.exit_code)
    if failures:
        err_console.print(Text.assemble((f"{len({f['image'] for f in failures})} image(s) failed", "bold red"),
                                        safe_line(f"; details in {layout.failures_path}")))
        return 1
    return 0


def _prepare_backends(host: PluginHost, names: list[str], settings: Settings, overrides) -> list[ActiveBackend]:
    active: list[ActiveBackend] = []
    seen: set[str] = set()
    for requested in names:
        entry = host.backend(requested)
        if entry.name in seen:
            continue
        seen.add(entry.name)
        options = resolve_options(entry.cls, settings.options, overrides)
        segmenter = entry.create(options)
        readiness = segmenter.check_ready()
        if not readiness.ready:
            raise BackendNotReady(f"backend {entry.name!r} is not ready: {readiness.reason}")
        active.append(ActiveBackend(entry.name, segmenter))
    return active


def _load_backends(active: list[ActiveBackend]) -> None:
    for backend in active:
        started = time.perf_counter()
        with err_console.status(f"loading {backend.name}…"):
            try:
                backend.segmenter.load()
            except SegkitError:
                raise
            except Exception as exc:
                raise BackendFatalError(f"backend {backend.name!r} failed to load: {one_line(exc)}") from exc
        backend.stats.load_seconds = time.perf_counter() - started


def _drop_duplicate_stems(paths: list[Path]) -> list[Path]:
    """Outputs are named by stem, so a.jpg and a.png would overwrite each other: keep the first."""
    kept: dict[str, Path] = {}
    for path in paths:
        if path.stem in kept:
            warn(f"{path} has the same name stem as {kept[path.stem].name}; skipping it (rename one of them)")
            continue
        kept[path.stem] = path
    return list(kept.values())


def _run_with_progress(plan: RunPlan, active: list[ActiveBackend]):
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task(f"segmenting with {', '.join(b.name for b in active)}", total=len(plan.images))

        def on_image(outcome: ImageOutcome) -> None:
            for message in outcome.warnings:
                warn(message, progress.console)
            for backend, message in outcome.errors:
                failed(f"{backend}: {message}" if backend else message, progress.console)
            progress.advance(task)

        return Runner(plan, active, on_image).run()


def _redacted(row: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in row.items()}


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
    iou_threshold: float = IouThresholdOpt,
    worst: int = WorstOpt,
    coco: bool = CocoOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    try:
        settings = load_settings(find_config(config))
        options = CompareOptions(backend, images, panels, coco, iou_threshold, worst, settings.viz, limits=settings.limits)
        result = _compare_with_progress(out_dir, options)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    layout = OutputLayout(out_dir)
    written = save_report(layout, result.report)
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
    if result.problems:
        err_console.print(f"[bold red]{len(result.problems)} image(s) could not be compared[/] and are left out of the report",
                          highlight=False)
        raise typer.Exit(1)


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


@app.command(help="List loaded plugins, the hooks each implements, and the detection readers.")
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    host = get_host()
    rows = host.plugins()
    readers = [{"name": r.name, "plugin": r.plugin, "description": r.description} for r in host.readers().values()]
    if as_json:
        print(json_for_terminal({"plugins": rows, "readers": readers, "problems": _problems(host)}))
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
