"""`segkit run` with the ultralytics backends, end to end, and the comparison users want: the same SAM 2.1
b+ weights through Meta's implementation and through Ultralytics'."""

from __future__ import annotations

from segkit_sam2.testing import offline_env as sam2_env
from segkit_sam2.testing import random_checkpoint
from segkit_torch.testing import only_line
from segkit_ultralytics.testing import OFFLINE_IMGSZ, link, offline_env, random_weights


def test_same_b_plus_weights_through_both_implementations(segkit_cli, tmp_path):
    folder = tmp_path / "checkpoints"
    meta = random_checkpoint("base_plus", folder)  # sam2.1_hiera_base_plus.pt
    link(meta, folder / "sam2.1_b.pt")  # the very same file under Ultralytics' name
    result = segkit_cli.run("sam2-base-plus", "ultralytics-sam2.1-b", env={**sam2_env(folder), **offline_env(folder)})
    records = segkit_cli.assert_outputs(result, ["sam2-base-plus", "ultralytics-sam2.1-b"])
    for record in records:
        ours = record["backends"]["ultralytics-sam2.1-b"]["settings"]
        assert ours["weights"] == "sam2.1_b.pt" and ours["imgsz"] == OFFLINE_IMGSZ
        assert ours["device"] == "cpu" and ours["half"] is False and ours["resize"].startswith("letterbox")
        meta_settings = record["backends"]["sam2-base-plus"]["settings"]
        assert meta_settings["checkpoint"] == "sam2.1_hiera_base_plus.pt" and meta_settings["resize"].startswith("stretch")
        for det in record["detections"]:
            assert 0.0 <= det["iou"]["sam2-base-plus vs ultralytics-sam2.1-b"] <= 1.0
            assert det["backends"]["ultralytics-sam2.1-b"]["score"] > 0.0


def test_options_by_flag(segkit_cli, tmp_path):
    path = random_weights("t", tmp_path / "models", name="v2-sam2.1_t.pt")
    flags = ["-O", f"ultralytics.weights_t={path}", "-O", "ultralytics.device=cpu", "-O", "ultralytics.imgsz=96"]
    result = segkit_cli.run("ultralytics-sam2.1-t", extra=flags)
    records = segkit_cli.assert_outputs(result, ["ultralytics-sam2.1-t"])
    settings = records[0]["backends"]["ultralytics-sam2.1-t"]["settings"]
    assert settings["weights"] == "v2-sam2.1_t.pt" and settings["imgsz"] == 96


def test_missing_weights_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("ultralytics-sam2.1-l", env={"SEGKIT_ULTRALYTICS_WEIGHTS_DIR": str(tmp_path)})
    assert result.exit_code == 2
    line = only_line(result.output)
    assert line.startswith("error: backend 'ultralytics-sam2.1-l' is not ready: weights")
    assert "sam2.1_l.pt not found; run `checkpoints/download.sh ultralytics-sam2.1-l`" in line


def test_renamed_weights_are_one_line_and_exit_2(segkit_cli, tmp_path):
    path = random_weights("t", tmp_path, name="sam2_t.pt")  # Ultralytics would build SAM 2.0 from this name
    result = segkit_cli.run("ultralytics-sam2.1-t", extra=["-O", f"ultralytics.weights_t={path}"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'sam2_t.pt' does not say SAM 2.1 tiny; name the file sam2.1_t.pt" in result.output
