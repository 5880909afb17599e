"""`segkit run -b sam3`, end to end, on a random-weight SAM 3 checkpoint in the official layout."""

from __future__ import annotations

from segkit_sam3.testing import REDUCED_IMAGE_SIZE, offline_env, random_checkpoint, reduced


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
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: backend 'sam3' is not ready: checkpoint {tmp_path / 'sam3.pt'} not found;")
    assert "https://huggingface.co/facebook/sam3" in lines[0]


def test_a_sam2_checkpoint_under_the_sam3_name_is_one_line_and_exit_1(segkit_cli, tmp_path):
    from segkit_sam2.testing import random_checkpoint as sam2_checkpoint

    path = sam2_checkpoint("tiny", tmp_path, name="sam3.pt")
    result = segkit_cli.run("sam3", env=offline_env(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot be used: it holds SAM 2.1 tiny weights" in errors[0], result.output
