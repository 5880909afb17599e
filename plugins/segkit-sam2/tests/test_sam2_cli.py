"""`segkit run` with the sam2 backends, end to end, on random-weight checkpoints of the real models."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.testing import read_mask
from segkit_sam2.testing import OFFLINE_IMAGE_SIZE, offline_env, random_checkpoint
from segkit_torch.testing import only_line


def test_b_plus_and_large_in_one_run(segkit_cli, tmp_path):
    """The seed plan's comparison: both models loaded once, every artifact written, settings recorded."""
    folder = tmp_path / "checkpoints"
    random_checkpoint("base_plus", folder)
    random_checkpoint("large", folder)
    result = segkit_cli.run("sam2-b+", "sam2-large", env=offline_env(folder))
    records = segkit_cli.assert_outputs(result, ["sam2-base-plus", "sam2-large"])
    for record in records:
        large = record["backends"]["sam2-large"]["settings"]
        assert large["config"] == "configs/sam2.1/sam2.1_hiera_l.yaml"
        assert large["checkpoint"] == "sam2.1_hiera_large.pt"
        assert (large["device"], large["dtype"], large["multimask_output"]) == ("cpu", "float32", False)
        assert large["image_size"] == OFFLINE_IMAGE_SIZE
        assert record["backends"]["sam2-base-plus"]["settings"]["checkpoint"] == "sam2.1_hiera_base_plus.pt"
        for det in record["detections"]:
            assert 0.0 <= det["iou"]["sam2-base-plus vs sam2-large"] <= 1.0
            assert 0.0 <= det["backends"]["sam2-large"]["score"] <= 1.0


def test_options_by_flag_and_the_same_masks_on_a_second_run(segkit_cli, tmp_path):
    path = random_checkpoint("tiny", tmp_path / "models", name="tiny-random.pt")
    flags = ["-O", f"sam2.checkpoint_tiny={path}", "-O", "sam2.device=cpu", "-O", "sam2.image_size=128",
             "-O", f"sam2.checkpoint_dir={tmp_path / 'nothing-here'}"]
    first = segkit_cli.run("sam2-tiny", extra=flags)
    records = segkit_cli.assert_outputs(first, ["sam2-tiny"])
    assert records[0]["backends"]["sam2-tiny"]["settings"]["checkpoint"] == "tiny-random.pt"
    mask_files = [first.out / det["backends"]["sam2-tiny"]["mask"] for r in records for det in r["detections"]]
    before = [read_mask(p) for p in mask_files]

    second = segkit_cli.run("sam2-tiny", extra=[*flags, "--force"])
    assert second.exit_code == 0, second.output
    after = [read_mask(p) for p in mask_files]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_missing_checkpoint_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("sam2-large", env={"SEGKIT_SAM2_CHECKPOINT_DIR": str(tmp_path / "empty")})
    assert result.exit_code == 2
    line = only_line(result.output)
    assert line.startswith("error: backend 'sam2-large' is not ready: checkpoint")
    assert "sam2.1_hiera_large.pt not found; run `checkpoints/download.sh sam2-large`" in line


def test_wrong_checkpoint_is_one_line_and_exit_2(segkit_cli, tmp_path):
    """A file that holds another model is unusable before any image: exit 2, like a missing one."""
    random_checkpoint("tiny", tmp_path / "ck", name="sam2.1_hiera_small.pt")
    result = segkit_cli.run("sam2-small", env=offline_env(tmp_path / "ck"))
    assert result.exit_code == 2
    assert "holds SAM 2.1 tiny weights but sam2-small is SAM 2.1 small" in only_line(result.output)


@pytest.mark.parametrize("content", [b"<html>404</html>", b"PK\x03\x04 cut short"], ids=["not-a-checkpoint", "truncated-zip"])
def test_corrupt_checkpoint_is_one_line_and_exit_2(segkit_cli, tmp_path, content):
    (tmp_path / "sam2.1_hiera_tiny.pt").write_bytes(content)
    result = segkit_cli.run("sam2-tiny", env=offline_env(tmp_path))
    assert result.exit_code == 2
    line = only_line(result.output)
    assert line.startswith("error: backend 'sam2-tiny' is not ready: checkpoint") and "PyTorch checkpoint" in line


def test_a_batch_size_below_1_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("sam2-tiny", extra=["-O", "sam2.batch_size=0"], env=offline_env(tmp_path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: option sam2.batch_size"), result.output
    assert "greater than or equal to 1" in lines[0]


def test_batch_size_through_the_runner_gives_the_same_masks(segkit_cli, tmp_path, monkeypatch):
    """`-O sam2.batch_size=2`: the runner hands whatever images are waiting (up to 2) to segment_batch, a lone
    one to segment; either way every mask file is the one a run at batch size 1 writes."""
    from segkit_sam2 import Sam2Segmenter

    folder = tmp_path / "ck"
    random_checkpoint("tiny", folder)
    first = segkit_cli.run("sam2-tiny", env=offline_env(folder))
    records = segkit_cli.assert_outputs(first, ["sam2-tiny"])
    mask_files = [first.out / det["backends"]["sam2-tiny"]["mask"] for r in records for det in r["detections"]]
    before = [read_mask(p) for p in mask_files]

    batches: list[int] = []
    real = Sam2Segmenter.segment_batch

    def spy(self, images, boxes):
        batches.append(len(images))
        return real(self, images, boxes)

    monkeypatch.setattr(Sam2Segmenter, "segment_batch", spy)
    second = segkit_cli.run("sam2-tiny", extra=["-O", "sam2.batch_size=2", "--force"], env=offline_env(folder))
    segkit_cli.assert_outputs(second, ["sam2-tiny"])
    assert max(batches, default=2) <= 2
    assert all(np.array_equal(a, read_mask(p)) for a, p in zip(before, mask_files))
