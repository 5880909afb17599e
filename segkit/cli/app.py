"""The Typer app, its consoles, and how a line reaches the user.

Every message may hold labels, file names or a plugin's words. It is printed as rich Text, never parsed as
markup, with secrets masked and control characters shown as escapes (segkit.text).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import typer
from rich.console import Console
from rich.text import Text
from typer.exceptions import TyperException

from segkit import __version__
from segkit.config import Settings
from segkit.outputs.agreement import DEFAULT_IOU_THRESHOLD, DEFAULT_WORST
from segkit.plugins.host import PluginHost
from segkit.plugins.options import check_families, parse_overrides
from segkit.redact import redact
from segkit.text import for_terminal

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


def safe_line(message: Any, prefix: str = "", style: str = "") -> Text:
    """A message as one terminal-safe line of Text, after a styled ``prefix`` (``error:``)."""
    text = for_terminal(redact(str(message)))
    return Text.assemble((prefix, style), " ", text) if prefix else Text(text)


def fail(message: str, code: int = 2) -> None:
    err_console.print(safe_line(message, "error:", "bold red"), soft_wrap=True)
    raise typer.Exit(code)


def error(message: str) -> None:
    """An `error:` line that does not end the command (the caller decides the exit code)."""
    err_console.print(safe_line(message, "error:", "bold red"), soft_wrap=True)


def warn(message: str, target: Console | None = None) -> None:
    (target or err_console).print(safe_line(message, "warning:", "yellow"), soft_wrap=True)


def failed(message: str, target: Console | None = None) -> None:
    """One image (or one backend on one image) failed; the run goes on."""
    (target or err_console).print(safe_line(message, "failed:", "red"), soft_wrap=True)


def say(message: str, target: Console | None = None) -> None:
    """A plain line on stdout that mentions paths or names."""
    (target or console).print(safe_line(message))


def count_line(count: int, what: str, details: str = "") -> None:
    """``3 image(s) failed; details in ...`` in bold red on stderr."""
    err_console.print(Text.assemble((f"{count} {what}", "bold red"), safe_line(details)), soft_wrap=True)


def report_plugin_problems(host: PluginHost) -> None:
    for problem in host.problems:
        warn(f"plugin {problem.plugin}: {problem.message}")


def checked_overrides(host: PluginHost, settings: Settings, option: Sequence[str]) -> dict[str, dict[str, str]]:
    """``-O`` flags parsed, and every options family (flags and config) checked against the installed plugins."""
    overrides = parse_overrides(option)
    for message in check_families(settings.options, overrides, host.option_families()):
        warn(message)
    return overrides


def page_line(page: Path | None) -> None:
    if page is not None:
        say(f"Report page: {page} (open it in a browser)")


def _print_version(value: bool) -> None:
    if value:  # a callback, so that it runs while parsing, before click asks for a command
        console.print(f"segkit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                       callback=_print_version)) -> None:
    pass


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
