"""The plugin API (docs/plugin-api.md): what plugins may import, that segkit exports it, that the page lists
it, and get_backend / get_detector for library users."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import segkit
import segkit.testing
from segkit import plugin_api
from segkit.testing import SAMPLE_BOXES, sample_image

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = {"segkit", "segkit.testing"}


def plugin_sources() -> list[Path]:
    """Every Python file of the plugins that ship (their packages and their tests)."""
    files = [p for p in sorted((ROOT / "plugins").glob("*/**/*.py")) if ".venv" not in p.parts]
    assert len(files) > 50, "the plugins folder was not found"  # a scan of nothing would pass
    return files


def segkit_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of each import of segkit in ``path``, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "segkit":
                found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "segkit"]
    return found


def test_shipped_plugins_import_only_segkit_and_segkit_testing():
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in plugin_sources()
        for line, module, _ in segkit_imports(path)
        if module not in PUBLIC_MODULES and not module.startswith("segkit.testing.")
    ]
    assert not outside, "plugins may import only segkit and segkit.testing:\n" + "\n".join(outside)


def test_every_name_plugins_take_from_segkit_is_in_the_plugin_api():
    public = set(plugin_api.__all__) | {"__version__"}
    taken = {
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in plugin_sources()
        for line, module, names in segkit_imports(path)
        if module == "segkit"
        for name in names
        if name not in public
    }
    assert not taken, "names outside segkit.plugin_api.__all__:\n" + "\n".join(sorted(taken))


def test_the_scan_sees_an_internal_import(tmp_path):
    """The check above can fail: an internal import in a file is found, at any depth."""
    source = tmp_path / "plugin.py"
    source.write_text("def f():\n    from segkit.plugins.host import get_host\n    import segkit.errors\n")
    assert [module for _, module, _ in segkit_imports(source)] == ["segkit.plugins.host", "segkit.errors"]


def test_segkit_reexports_the_whole_plugin_api():
    for name in plugin_api.__all__:
        assert getattr(segkit, name) is getattr(plugin_api, name), name
    assert set(plugin_api.__all__) <= set(segkit.__all__)


def documented_rows(doc: str) -> dict[str, str]:
    """Each backquoted name in a table row of the page -> that row's status (stable / provisional)."""
    rows = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[2] in ("stable", "provisional"):
            for name in re.findall(r"`([A-Za-z_][\w.]*)", cells[0]):
                rows[name] = cells[2]
    return rows


def test_every_public_name_has_a_row_with_its_status_on_the_page():
    rows = documented_rows((ROOT / "docs" / "plugin-api.md").read_text(encoding="utf-8"))
    missing = [name for name in plugin_api.__all__ if name not in rows]
    assert not missing, f"docs/plugin-api.md has no row for {missing}"


def test_every_test_kit_name_is_importable_and_documented():
    rows = documented_rows((ROOT / "docs" / "plugin-api.md").read_text(encoding="utf-8"))
    kit = [
        "sample_image", "sample_masks", "SAMPLE_BOXES", "SAMPLE_SIZE", "SAMPLE_LABELS", "sample_batch",
        "check_segmenter_contract", "offline_segmenter", "write_sample_dataset", "iou", "read_mask",
        "SegmenterContract", "backend_entry", "registered_backends",
    ]
    for name in kit:
        assert hasattr(segkit.testing, name), name
        assert name in rows, f"docs/plugin-api.md has no row for segkit.testing.{name}"


def test_get_backend_returns_a_loaded_backend():
    segmenter = segkit.get_backend("mock")
    try:
        answer = segmenter.segment(sample_image(), SAMPLE_BOXES)
        assert answer.masks.shape == (len(SAMPLE_BOXES), 120, 160) and answer.masks.dtype == np.bool_
    finally:
        segmenter.close()


def test_get_backend_returns_a_concept_backend_too():
    backend = segkit.get_backend("mock-concept")
    try:
        answer = backend.segment_concepts(sample_image(), [segkit.Concept(text="thing")])
        assert answer.masks.ndim == 3 and len(answer.scores) == len(answer.masks)
    finally:
        backend.close()


def test_get_backend_with_an_unknown_name_or_option_is_one_line():
    with pytest.raises(segkit.SegkitError) as unknown:
        segkit.get_backend("no-such-backend")
    assert "\n" not in str(unknown.value) and "mock" in str(unknown.value)  # lists what there is
    with pytest.raises(segkit.SegkitError) as option:
        segkit.get_backend("grabcut", itterations=3)
    assert "\n" not in str(option.value) and "itterations" in str(option.value)
