"""The README's two commands are the ones CI and a new user run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv .venv &&[^\n]+)\n```", (ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_gives_a_run_command_and_a_test_command():
    run, test = readme_commands()
    assert run.endswith("segkit run") and test.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    test = readme_commands()[1]
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_requirements_install_every_plugin_folder():
    listed = set(re.findall(r"-e \./plugins/([\w-]+)", (ROOT / "requirements-dev.txt").read_text()))
    assert listed == {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()}


def test_the_default_config_runs_the_shipped_example():
    import yaml

    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
    images = sorted(p.stem for p in (ROOT / config["images"]).iterdir())
    detections = sorted(p.stem for p in (ROOT / config["detections"]).iterdir())
    assert images == detections and len(images) >= 3
