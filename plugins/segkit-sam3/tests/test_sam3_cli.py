"""`segkit run -b sam3`, end to end, on a random-weight SAM 3 checkpoint in the official layout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from segkit.testing import write_sample_dataset
from segkit_sam3.testing import REDUCED_IMAGE_SIZE, offline_env, random_checkpoint, reduced
from segkit_torch.testing import only_line


def test_a_run_writes_every_artifact_and_records_the_settings(segkit_cli, tmp_path):
    path = random_checkpoint(tmp_path / "checkpoints")
    with reduced():
        result = segkit_cli.run("sam3", env=offline_env(path))
    for record in segkit_cli.assert_outputs(result, ["sam3"]):
        settings = record["backends"]["sam3"]["settings"]
        assert (settings["checkpoint"], settings["device"], settings["dtype"]) == ("sam3.pt", "cpu", "float32")
        assert settings["resolution"] == REDUCED_IMAGE_SIZE and settings["multimask_output"] is False
        assert settings["implementation"].startswith("sam3 0.")
        for det in record["detections"]:
            assert 0.0 <= det["backends"]["sam3"]["score"] <= 1.0


def test_missing_checkpoint_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("sam3", env={"SEGKIT_SAM3_CHECKPOINT": str(tmp_path / "sam3.pt")})
    assert result.exit_code == 2
    line = only_line(result.output)
    assert line.startswith(f"error: backend 'sam3' is not ready: checkpoint {tmp_path / 'sam3.pt'} not found;")
    assert "https://huggingface.co/facebook/sam3" in line


def test_a_garbage_sam3_pt_is_not_ready_in_the_listing_and_exit_2_in_a_run(segkit_cli, tmp_path):
    """A file's name does not make it a checkpoint: `segkit backends` reads its header."""
    path = tmp_path / "sam3.pt"
    path.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:0000\nsize 3450000000\n")  # an LFS pointer
    listing = segkit_cli.invoke("backends", "--json", env=offline_env(path))
    row = {row["name"]: row for row in json.loads(listing.output)["backends"]}["sam3"]
    assert row["ready"] is False
    assert row["reason"].startswith(f"checkpoint {path} is not a PyTorch checkpoint")
    result = segkit_cli.run("sam3", env=offline_env(path))
    assert result.exit_code == 2
    assert only_line(result.output).startswith(f"error: backend 'sam3' is not ready: checkpoint {path} is not a PyTorch checkpoint")


def test_a_sam2_checkpoint_under_the_sam3_name_is_one_line_and_exit_2(segkit_cli, tmp_path):
    from segkit_sam2.testing import random_checkpoint as sam2_checkpoint

    path = sam2_checkpoint("tiny", tmp_path, name="sam3.pt")
    result = segkit_cli.run("sam3", env=offline_env(path))
    assert result.exit_code == 2
    assert "cannot be used: it holds SAM 2.1 tiny weights" in only_line(result.output)


RUN = """
import contextlib, runpy, sys, warnings
from segkit_sam3.testing import reduced
with contextlib.ExitStack() as stack:
    if {reduce}:  # the test's own patching imports sam3 first: its import-time warnings are the test's, not segkit's
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stack.enter_context(reduced())
    sys.argv = ["segkit", "run", "--images", {images!r}, "--detections", {detections!r}, "--out", "out", "-b", "sam3",
                "-O", "sam3.checkpoint=" + {checkpoint!r}, "-O", "sam3.device=cpu"]
    runpy.run_module("segkit", run_name="__main__")  # `python -m segkit run ...`
"""


@pytest.mark.parametrize("weights", ["sam3", "sam2"])
def test_no_upstream_warning_reaches_the_terminal(tmp_path, weights):
    """sam3 and torch warn on import and while building (torch.jit.script deprecated, CUDA autocast off on a
    CPU machine). In a fresh process a CPU run shows none of what warns while segkit builds and runs SAM 3;
    a wrong file (SAM 2.1 weights named sam3.pt: sam3 is imported by segkit, then the file refused) ends on
    one error line, and nothing of sam3's import shows either."""
    dataset = write_sample_dataset(tmp_path / "data", n_images=1)
    if weights == "sam3":
        checkpoint = random_checkpoint(tmp_path / "checkpoints")
    else:
        from segkit_sam2.testing import random_checkpoint as sam2_checkpoint

        checkpoint = sam2_checkpoint("tiny", tmp_path / "checkpoints", name="sam3.pt")
    script = RUN.format(reduce=weights == "sam3", images=str(dataset.images), detections=str(dataset.detections), checkpoint=str(checkpoint))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    for upstream in ("Warning", "warnings.warn", "site-packages", "autocast"):
        assert upstream not in done.stderr, done.stderr
    if weights == "sam3":
        assert done.returncode == 0, done.stdout[-2000:]
    else:
        assert done.returncode == 2
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: backend 'sam3': checkpoint"), done.stderr
