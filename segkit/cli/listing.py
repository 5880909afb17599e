"""`segkit backends` and `segkit plugins`: what is installed, and whether it can run here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table
from rich.text import Text

from segkit.cli.app import (
    PRECEDENCE,
    ConfigOpt,
    OptionOpt,
    app,
    checked_overrides,
    console,
    fail,
    report_plugin_problems,
    safe_line,
    say,
)
from segkit.config import find_config, load_settings
from segkit.errors import SegkitError, one_line
from segkit.plugins.host import PluginHost, get_host
from segkit.plugins.options import resolve_options
from segkit.redact import redact
from segkit.text import json_for_terminal


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
