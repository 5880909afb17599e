"""`segkit run`: flags, environment and config into a ``RunJob``; ``run_job``; what happened, printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from segkit.cli.app import (
    PRECEDENCE,
    CocoOpt,
    ConfigOpt,
    HtmlOpt,
    IouThresholdOpt,
    OptionOpt,
    WorstOpt,
    app,
    console,
    count_line,
    error,
    fail,
    say,
)
from segkit.cli.eval_tables import show_scoring_and_page
from segkit.cli.progress import CliEvents
from segkit.cli.run_tables import render_report, render_summary
from segkit.config import find_config, load_settings
from segkit.errors import ConfigError, SegkitError
from segkit.inputs.box_spaces import BOX_SPACE_HELP, box_space_setting
from segkit.pipeline.job import RunJob, RunResult, run_job
from segkit.plugins.options import parse_overrides


@dataclass
class RunFlags:
    """What was typed after `segkit run` (None: not given, the environment or config decides)."""

    backends: list[str]
    images: str | None = None
    detections: str | None = None
    out: str | None = None
    conf: float | None = None
    reader: str | None = None
    box_space: str | None = None
    input_size: str | None = None
    mask_format: str | None = None
    panels: str | None = None
    no_panels: bool = False
    force: bool = False
    limit: int | None = None
    iou_threshold: float = 0.5
    worst: int = 10
    coco: bool = False
    html: bool = True
    options: tuple[str, ...] = ()
    config: Path | None = None
    gt: Path | None = None
    engine: str | None = None
    ray_address: str | None = None
    actors: int | None = None
    gpus_per_actor: float | None = None
    prompts: tuple[str, ...] = ()
    prompts_from_labels: bool = False
    exemplars: bool = False


def choice(value: str | None, default: str, flag: str, allowed: tuple[str, ...]) -> str:
    chosen = (value if value is not None else default).strip().lower()
    if chosen not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    return chosen


def job_from_flags(flags: RunFlags) -> RunJob:
    """The job `segkit run` was asked for: flags over environment over config over defaults."""
    settings = load_settings(find_config(flags.config))
    names = list(flags.backends) or settings.backends
    if not names:
        raise ConfigError("no backend chosen; pass --backend NAME (see `segkit backends`) or set `backends:` in the config")
    images = flags.images or settings.images
    detections = flags.detections or settings.detections  # None: run_job says whether the backends need them
    if images is None:
        raise ConfigError("no image folder; pass --images DIR or set `images:` in the config")
    ray = settings.ray.model_copy(update={k: v for k, v in (("address", flags.ray_address), ("actors", flags.actors),
                                                            ("gpus_per_actor", flags.gpus_per_actor)) if v is not None})
    engine = choice(flags.engine, settings.engine, "--engine", ("local", "ray"))
    if engine == "local" and ray != settings.ray:
        raise ConfigError("--ray-address, --actors and --gpus-per-actor need --engine ray")
    return RunJob(
        backends=names,
        images=images,
        detections=detections,
        out=flags.out or settings.out,
        conf=settings.conf if flags.conf is None else flags.conf,
        reader=flags.reader or settings.reader,
        box_space=box_space_setting(flags.box_space, flags.input_size, settings),
        force=flags.force,
        limit=flags.limit,
        mask_format=choice(flags.mask_format, settings.mask_format, "--mask-format", ("png", "rle")),
        panels="none" if flags.no_panels else choice(flags.panels, settings.panels, "--panels", ("all", "disagree", "none")),
        iou_threshold=flags.iou_threshold,
        worst=flags.worst,
        coco=flags.coco,
        html=flags.html,
        gt=flags.gt if flags.gt is not None else settings.gt,
        gt_from_config=flags.gt is None and settings.gt is not None,
        options=settings.options,
        overrides=parse_overrides(flags.options),
        viz=settings.viz,
        quality=settings.quality,
        limits=settings.limits,
        engine=engine,
        ray=ray,
        prompts=list(flags.prompts),
        prompts_from_labels=flags.prompts_from_labels,
        exemplars=flags.exemplars,
    )


@app.command(help=f"Segment every detection of every image with one or more backends. {PRECEDENCE}")
def run(
    backend: List[str] = typer.Option([], "--backend", "-b", envvar="SEGKIT_BACKEND", help="Backend name (repeatable); see `segkit backends`."),
    images: Optional[str] = typer.Option(None, "--images", "-i", envvar="SEGKIT_IMAGES", help="Folder of images, or a URL (s3://bucket/prefix)."),
    detections: Optional[str] = typer.Option(None, "--detections", "-d", envvar="SEGKIT_DETECTIONS", help="Folder of per-image detection files, or one file (COCO); or a URL. Not needed when every backend is a concept backend given --prompt."),
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
    prompt: List[str] = typer.Option([], "--prompt", "-p", help="Concept backends: a noun phrase to find every instance of, on every image (repeatable); needs no --detections."),
    prompts_from_labels: bool = typer.Option(False, "--prompts-from-labels", help="Concept backends: each image's distinct detection labels as its concepts (the labels without their boxes)."),
    exemplars: bool = typer.Option(False, "--exemplars", help="Concept backends: each label's detection boxes as positive exemplars of it (with --prompts-from-labels: the label and its boxes)."),
) -> None:
    flags = RunFlags(backend, images, detections, out, conf, reader, box_space, input_size, mask_format, panels, no_panels,
                     force, limit, iou_threshold, worst, coco, html, tuple(option), config, gt, engine, ray_address,
                     actors, gpus_per_actor, tuple(prompt), prompts_from_labels, exemplars)
    try:
        job = job_from_flags(flags)
        with CliEvents() as events:
            result = run_job(job, events)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:  # images in flight were finished; every file is whole
        fail("interrupted; the images already written are kept: run the same command again to continue", 130)
    raise typer.Exit(show_run(result))


def show_run(result: RunResult) -> int:
    """Print the closing tables of a run, its evaluation and page; its exit code."""
    summary = result.summary
    out_dir = str(result.layout.root)
    render_summary(console, summary, out_dir)
    render_report(console, result.report, [str(p) for p in result.files], show_backends=False)
    if result.other_backends:
        say(f"{out_dir} also holds results of {', '.join(result.other_backends)} (other runs or machines);"
            f" `segkit compare {out_dir}` compares every backend in it.")
    show_scoring_and_page(result)
    if summary.fatal:
        error(f"run stopped: {summary.fatal}")
    elif summary.failures:
        count_line(result.failed_images, "image(s) failed", f"; details in {result.layout.failures_path}")
    return result.exit_code
