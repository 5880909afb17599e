"""`segkit detect`: ask a detector (a vision-language model) for the boxes of every image."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from segkit.cli.app import (
    PRECEDENCE,
    ConfigOpt,
    OptionOpt,
    app,
    checked_overrides,
    count_line,
    fail,
    report_plugin_problems,
    say,
)
from segkit.cli.progress import CliEvents
from segkit.config import find_config, load_settings
from segkit.errors import ConfigError, SegkitError
from segkit.inputs.box_spaces import BOX_SPACE_HELP
from segkit.pipeline.detect import DetectJob, DetectOutcome, DetectSummary, detect_job
from segkit.plugins.host import get_host


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
        with CliEvents(f"asking {job.detector}") as events:
            summary = detect_job(job, lambda outcome: _shown(outcome, events), events.warning, host)
    except SegkitError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; the detection files already written are kept: run the same command again to continue", 130)
    raise typer.Exit(show_detect(summary, out))


def _shown(outcome: DetectOutcome, events: CliEvents) -> None:
    for message in outcome.warnings:
        events.warning(message)
    if outcome.error:
        events.failure(outcome.error)
    events.advance()


def show_detect(summary: DetectSummary, out: Path) -> int:
    """The closing line of a detect, and its exit code."""
    done, failures, complete = summary.count("done"), len(summary.failures), summary.count("complete")
    found = sum(o.detections for o in summary.outcomes if o.status in ("done", "complete"))
    say(f"{done + failures} images asked, {complete} already done, {failures} failed; {found} boxes, in {summary.seconds:.1f} s."
        f" Detection files in {out}" + (f"; segment them with `segkit run --detections {out}`." if done + complete else "."))
    if summary.fatal is not None:
        left = summary.count("not-run")
        fail(f"stopped: {summary.fatal}" + (f" ({left} image(s) not asked)" if left else ""), summary.fatal.exit_code)
    if summary.failures:
        count_line(failures, "image(s) failed")
        return 1
    return 0
