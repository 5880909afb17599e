"""`segkit run` with the hf-* backends, and the same SAM 2.1 weights through Meta's sam2 and transformers."""

from __future__ import annotations

import numpy as np

from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_sam2.testing import OFFLINE_IMAGE_SIZE as META_SIZE
from segkit_sam2.testing import offline_env as sam2_env
from segkit_sam2.testing import offline_segmenter as sam2_segmenter
from segkit_sam2.testing import random_checkpoint
from segkit_transformers import TransformersOptions, TransformersSegmenter
from segkit_transformers.from_meta import save_folder
from segkit_transformers.testing import offline_env
from segkit_torch.testing import only_line


def test_meta_weights_converted_give_meta_masks_on_the_same_pixels(tmp_path):
    """Meta's checkpoint renamed into transformers' layout is the same network: on an image already at the
    model's input size (no resize on either side) the masks are equal and the scores agree to 1e-6."""
    with sam2_segmenter("sam2-tiny", tmp_path) as meta:
        meta.load()
        save_folder(meta.checkpoint, "tiny", tmp_path / "hf" / "sam2.1-hiera-tiny", image_size=META_SIZE)
        hf = TransformersSegmenter("hf-sam2.1-tiny", TransformersOptions(model_dir=tmp_path / "hf", device="cpu"), key="tiny")
        hf.load()
        try:
            image, boxes = sample_image(1, (META_SIZE, META_SIZE)), SAMPLE_BOXES * np.float32(0.9)
            ours, theirs = hf.segment(image, boxes), meta.segment(image, boxes)
        finally:
            hf.close()
    np.testing.assert_array_equal(ours.masks, theirs.masks)
    np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-6)


def test_sam2_and_transformers_in_one_run_on_the_same_weights(segkit_cli, tmp_path):
    folder = tmp_path / "checkpoints"
    meta = random_checkpoint("tiny", folder)
    save_folder(meta, "tiny", folder / "hf" / "sam2.1-hiera-tiny", image_size=META_SIZE)
    result = segkit_cli.run("sam2-tiny", "hf-sam2.1-tiny", env={**sam2_env(folder), **offline_env(folder / "hf")})
    records = segkit_cli.assert_outputs(result, ["sam2-tiny", "hf-sam2.1-tiny"])
    values = []
    for record in records:
        settings = record["backends"]["hf-sam2.1-tiny"]["settings"]
        assert settings["source"] == "sam2.1-hiera-tiny" and settings["image_size"] == f"{META_SIZE}x{META_SIZE}"
        assert settings["implementation"].startswith("transformers 5.") and settings["device"] == "cpu"
        values += [det["iou"]["sam2-tiny vs hf-sam2.1-tiny"] for det in record["detections"]]
    # both stretch to the same square; only the resize arithmetic differs (float vs uint8 input)
    assert min(values) > 0.99, values


def test_a_missing_folder_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("hf-sam2.1-large", env={"SEGKIT_TRANSFORMERS_MODEL_DIR": str(tmp_path / "hf")})
    assert result.exit_code == 2
    line = only_line(result.output)
    assert line.startswith("error: backend 'hf-sam2.1-large' is not ready: model folder")
    assert "hf download facebook/sam2.1-hiera-large" in line


def test_a_corrupt_weight_file_is_one_line_and_exit_2(segkit_cli, tmp_path):
    """Unusable before any image, like a missing folder: exit 2, one line."""
    from segkit_transformers.testing import random_model_folder

    folder = random_model_folder("hf-sam2.1-tiny", tmp_path / "hf")
    (folder / "model.safetensors").unlink()  # a hard link into the shared cache: replace it, never write into it
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    result = segkit_cli.run("hf-sam2.1-tiny", env=offline_env(tmp_path / "hf"))
    assert result.exit_code == 2
    assert only_line(result.output).startswith(f"error: backend 'hf-sam2.1-tiny': folder {folder} could not be loaded")


def test_a_batch_size_below_1_is_one_line_and_exit_2(segkit_cli, tmp_path):
    result = segkit_cli.run("hf-sam3", extra=["-O", "transformers.batch_size=0"], env=offline_env(tmp_path))
    assert result.exit_code == 2 and only_line(result.output).startswith("error: option transformers.batch_size")

