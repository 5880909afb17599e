"""pytest fixtures for segkit plugin authors, loaded automatically when segkit is installed.

    def test_my_backend_through_the_cli(segkit_cli):
        result = segkit_cli.run("my-backend")
        assert result.exit_code == 0
        segkit_cli.assert_outputs(result, ["my-backend"])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from PIL import Image

from segkit.outputs.layout import OutputLayout
from segkit.outputs.reading import read_mask
from segkit.testing import SampleDataset, read_json, write_sample_dataset


@dataclass
class CliResult:
    exit_code: int
    output: str
    out: Path


class SegkitCli:
    """Runs `segkit run` in-process on a sample dataset in a temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.dataset: SampleDataset = write_sample_dataset(root / "data")

    def invoke(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        from typer.testing import CliRunner

        from segkit.cli import app

        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.output, self.root / "out")

    def run(self, *backends: str, extra: Sequence[str] = (), env: dict[str, str] | None = None) -> CliResult:
        args = ["run", "--images", str(self.dataset.images), "--detections", str(self.dataset.detections),
                "--out", str(self.root / "out"), "--conf", "0"]
        for backend in backends:
            args += ["--backend", backend]
        return self.invoke(*args, *extra, env=env)

    def assert_outputs(self, result: CliResult, backends: Sequence[str]) -> list[dict]:
        """Every image has its JSON, one full-resolution binary mask per box per backend, and a panel."""
        assert result.exit_code == 0, result.output
        layout = OutputLayout(result.out)
        records = []
        for name in self.dataset.names:
            record = read_json(layout.json_path(name))
            assert sorted(record["backends"]) == sorted(backends), record["backends"]
            assert len(record["detections"]) == len(self.dataset.boxes)
            for det in record["detections"]:
                for backend in backends:
                    mask_file = result.out / det["backends"][backend]["mask"]
                    with Image.open(mask_file) as image:
                        assert image.mode in ("1", "L"), f"{mask_file} is {image.mode}, not a binary mask"
                        raw = np.asarray(image.convert("L"))
                    assert raw.shape == (record["height"], record["width"]), f"{mask_file} is {raw.shape}"
                    assert set(np.unique(raw)) <= {0, 255}, f"{mask_file} is not binary"
                    assert det["backends"][backend]["area_px"] == int(read_mask(mask_file).sum())
            assert (result.out / record["panel"]).is_file()
            records.append(record)
        return records


@pytest.fixture
def segkit_cli(tmp_path: Path) -> SegkitCli:
    """A sample dataset in a temporary folder and a way to run `segkit run` on it."""
    return SegkitCli(tmp_path)
