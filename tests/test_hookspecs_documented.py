"""Every plugin hook segkit defines is documented in the plugin author's guide, under its own heading
(in the spirit of datasette's test_plugin_hooks_have_tests)."""

import inspect
import re
from pathlib import Path

import pytest

from segkit.plugins import hookspecs

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"


def hook_specs() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker))


def test_the_hook_specs_are_found():
    assert {"register_detection_readers", "register_detectors", "register_segmenters"} <= set(hook_specs())


@pytest.mark.parametrize("hook", hook_specs())
def test_hook_spec_has_a_heading_in_the_guide(hook):
    headings = re.findall(r"^#{1,6} (.+)$", GUIDE.read_text(encoding="utf-8"), re.M)
    assert any(re.search(rf"\b{hook}\b", h) for h in headings), f"docs/writing-a-plugin.md has no heading for {hook}"
