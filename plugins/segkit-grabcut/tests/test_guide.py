"""docs/writing-a-plugin.md cannot rot: its files are written out as packages, installed, and its
commands and its plugins' own tests are run as the guide shows them.

Every python/toml/yaml/csv block in the guide carries a file name (```python title="pkg/mod.py"```)
and is written there, in a temporary folder. Every bash line is run there, in order, with `segkit`
and `pytest` from this environment. ``pip install -e DIR`` is done the way pip's editable install
ends up: DIR on the path and a ``.dist-info`` with the entry points of DIR's pyproject.toml, so no
network or build backend is needed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from segkit.testing import sample_image, write_sample_dataset

REPO = Path(__file__).resolve().parents[3]
GUIDE = REPO / "docs" / "writing-a-plugin.md"
BLOCK = re.compile(r'^```(\w*)(?: title="([^"]+)")?\n(.*?)^```\n', re.M | re.S)
FILE_LANGUAGES = {"python", "toml", "yaml", "csv"}


def blocks() -> list[tuple[str, str | None, str]]:
    return BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


def files() -> dict[str, str]:
    return {title: body for lang, title, body in blocks() if lang in FILE_LANGUAGES}


def commands() -> list[str]:
    return [line for lang, _, body in blocks() if lang == "bash" for line in body.splitlines() if line.strip()]


def cli_output(block_start: str) -> str:
    """The guide's ```text block that starts with ``block_start``."""
    return next(body for lang, _, body in blocks() if lang == "text" and body.startswith(block_start))


def test_every_code_block_is_a_file_a_command_or_shown_output():
    found = blocks()
    assert len(found) >= 12, "the guide's code blocks were not found; did the fence format change?"
    for lang, title, body in found:
        assert lang in FILE_LANGUAGES | {"bash", "text"}, f"a ```{lang} block: teach this test how to run it"
        assert (title is not None and title != "") == (lang in FILE_LANGUAGES), f"```{lang} title={title!r}"
    titles = [t for _, t, _ in found if t]
    assert len(titles) == len(set(titles)), "two blocks write the same file"


def install(project: Path, site: Path) -> None:
    """What `pip install -e project` amounts to: the project importable (the caller puts it on the
    path), and a .dist-info with its name, version and entry points, where segkit looks for plugins."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    entry_points = meta.get("entry-points", {})
    (dist / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in entry_points.items())
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The guide's files written out, its `pip install -e` lines done, and sample data to run on."""
    root = tmp_path_factory.mktemp("guide")
    for title, body in files().items():
        path = root / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    write_sample_dataset(root)  # images/ and detections/, as the guide's commands expect
    names = {row.split(",")[0] for row in files()["detections.csv"].splitlines()[1:]}
    (root / "photos").mkdir()
    for seed, name in enumerate(sorted(names)):
        Image.fromarray(sample_image(seed)).save(root / "photos" / name, quality=95)
    site = root / "site"
    path = [str(site)]
    for line in commands():
        if line.startswith("pip install -e "):
            project = root / line.split()[-1]
            assert (project / "pyproject.toml").is_file(), f"{line}: the guide has no {project.name}/pyproject.toml"
            install(project, site)
            path.append(str(project))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONDONTWRITEBYTECODE="1")
    return root, env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def as_argv(line: str) -> tuple[list[str], dict[str, str]]:
    """A guide command as argv (with this environment's segkit and pytest) and its VAR=value prefix."""
    words = shlex.split(line)
    env = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    program, args = words[0], words[1:]
    if program == "segkit":
        return [sys.executable, "-m", "segkit", *args], env
    if program == "pytest":
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], env
    raise AssertionError(f"the guide runs {program!r}; teach this test how to run it")


def records(out: Path) -> list[dict]:
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "json").glob("*.json"))]
    assert found, f"no JSON under {out}"
    return found


def test_the_guides_commands_run_as_written(workspace):
    root, env = workspace
    for line in commands():
        if line.startswith("pip install -e "):
            continue  # done by the fixture
        argv, extra_env = as_argv(line)
        done = run(argv, root, {**env, **extra_env})
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if argv[2] == "pytest":
            assert " passed" in done.stdout and not re.search(r"\d+ failed", done.stdout), done.stdout  # not a warning that says "failed"

    first = records(root / "runs" / "first")
    assert [r["image"] for r in first] == ["sample00.png", "sample01.png"]
    for record in first:
        assert record["failed_backends"] == {}
        for det in record["detections"]:
            assert 0.5 < det["iou"]["mygrabcut vs mock"] < 0.7, det["iou"]  # real masks, not boxes
    assert {r["backends"]["mygrabcut"]["settings"]["iterations"] for r in records(root / "runs" / "five")} == {5}
    assert {r["backends"]["mygrabcut"]["settings"]["iterations"] for r in records(root / "runs" / "yaml")} == {5}
    env_run = records(root / "runs" / "env")[0]["backends"]["mygrabcut"]["settings"]
    assert env_run == {"iterations": 2, "margin": 32}
    csv_run = {r["image"]: [d["label"] for d in r["detections"]] for r in records(root / "runs" / "csv")}
    assert csv_run == {"park.jpg": ["dog"], "street.jpg": ["car", "自転車"]}
    assert records(root / "runs" / "csv")[0]["reader"] == "csv"
    blobs = records(root / "runs" / "blobs")  # boxes from the guide's detector, segmented
    assert [len(r["detections"]) for r in blobs] == [3, 3] and {d["label"] for r in blobs for d in r["detections"]} == {"shape"}
    assert all(r["reader"] == "qwen-json" for r in blobs)


def test_segkit_lists_the_guides_plugins_and_says_what_is_missing(workspace):
    root, env = workspace
    done = run([sys.executable, "-m", "segkit", "backends", "--json"], root, env)
    backends = {b["name"]: b for b in json.loads(done.stdout)["backends"]}
    assert backends["mygrabcut"]["plugin"] == "mygrabcut" and backends["mygrabcut"]["ready"]
    assert backends["mygrabcut"]["reason"].startswith("OpenCV ")
    assert backends["mygrabcut"]["description"] == "GrabCut from each box (no weights needed)."
    assert not backends["myremote"]["ready"]
    assert backends["myremote"]["reason"] == "no service URL: set SEGKIT_MYREMOTE_URL or -O myremote.url=..."
    done = run([sys.executable, "-m", "segkit", "plugins", "--json"], root, env)
    shown = json.loads(done.stdout)
    plugins = {p["name"]: p for p in shown["plugins"]}
    assert plugins["mycsv"] == {"name": "mycsv", "hooks": ["register_detection_readers"], "distribution": "segkit-mycsv 0.1.0"}
    assert plugins["mygrabcut"]["distribution"] == "segkit-mygrabcut 0.1.0"
    assert {"name": "csv", "plugin": "mycsv", "description": "CSV: image,label,x1,y1,x2,y2,score (pixels)"} in shown["readers"]
    assert shown["problems"] == []


def test_the_error_the_guide_shows_is_the_error_segkit_prints(workspace):
    root, env = workspace
    shown = cli_output("error: option mygrabcut.iterations").strip()
    done = run([sys.executable, "-m", "segkit", "run", "-b", "mygrabcut", "-O", "mygrabcut.iterations=0",
                "--images", "images", "--detections", "detections", "--out", "runs/bad"], root, env)
    assert done.returncode == 2 and done.stderr.strip() == shown, done.stderr


def test_segkits_own_contract_test_covers_the_guides_backends(workspace):
    """The guide says segkit's suite checks every installed backend, using offline_segmenter where a
    plugin provides one: run that very test with the guide's plugins installed."""
    root, env = workspace
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "test_backend_contract.py"),
                "-k", "mygrabcut or myremote", "-rA"], REPO, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED" in done.stdout and "[mygrabcut]" in done.stdout and "[myremote]" in done.stdout, done.stdout
