"""What a file or folder is, told cheaply; what a state dict holds; torch's errors without unsafe advice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segkit_torch import best_per_box
from segkit_torch.checkpoints import describe_weights, identify_sam3, load_error_text, read_state_dict
from segkit_torch.files import checkpoint_file_problem, free_folder, read_config


def test_a_checkpoint_is_told_by_its_header_not_its_name(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "zip.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert checkpoint_file_problem(tmp_path / "zip.pt") is None
    assert checkpoint_file_problem(tmp_path / "legacy.pt") is None

    cases = {
        "page.pt": (b"<!DOCTYPE html><html>Access denied</html>", "is not a PyTorch checkpoint (it holds HTML"),
        "empty.pt": (b"", "is empty"),
        "lfs.pt": (b"version https://git-lfs.github.com/spec/v1\n", "neither a torch zip archive nor a pickle"),
        "model.safetensors.pt": (b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{}}      ", "is a safetensors file"),
        "cut.pt": ((tmp_path / "zip.pt").read_bytes()[:200], "is a damaged zip archive"),
    }
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert expected in checkpoint_file_problem(tmp_path / name), name


def test_a_fresh_folder_is_never_one_that_exists(tmp_path):
    occupied = tmp_path / "sam2.1-hiera-tiny"
    occupied.mkdir()
    assert free_folder(occupied, "sam2.1-hiera-tiny") == tmp_path / "sam2.1-hiera-tiny-2"
    (tmp_path / "sam2.1-hiera-tiny-2").mkdir()
    assert free_folder(occupied, "sam2.1-hiera-tiny") == tmp_path / "sam2.1-hiera-tiny-3"
    assert free_folder(tmp_path / "my-model", "sam2.1-hiera-tiny") == tmp_path / "sam2.1-hiera-tiny-3"
    assert free_folder(tmp_path / "my-model", "sam2.1-hiera-small") == tmp_path / "sam2.1-hiera-small"


def test_read_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam2_video"}))
    assert read_config(tmp_path) == ({"model_type": "sam2_video"}, "")
    (tmp_path / "config.json").write_text("{broken")
    config, problem = read_config(tmp_path)
    assert config is None and problem == f"{tmp_path / 'config.json'} is not readable JSON (JSONDecodeError)"


def test_torchs_advice_to_load_unsafely_is_never_repeated(tmp_path):
    torch.save({"model": {"layer": torch.nn.Linear(2, 2)}}, tmp_path / "objects.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x80\x02garbage")
    for name in ("objects.pt", "garbage.pt"):
        with pytest.raises(Exception) as caught:
            torch.load(tmp_path / name, weights_only=True)
        assert "weights_only" in str(caught.value)  # what torch itself says
        text = load_error_text(caught.value)
        assert "weights_only" not in text and "trust" not in text and "\n" not in text, text
    _, problem = read_state_dict(tmp_path / "objects.pt")
    assert problem.startswith("it is not a readable PyTorch checkpoint (UnpicklingError: Unsupported global: GLOBAL torch.nn.modules.linear.Linear")
    assert "weights_only" not in problem


def test_what_a_state_dict_holds():
    sam3 = {"detector.backbone.vision_backbone.trunk.w": 0, "tracker.sam_mask_decoder.w": 0, "tracker.sam_prompt_encoder.w": 0}
    sam3_1 = {"detector.backbone.vision_backbone.trunk.w": 0, "tracker.model.interactive_sam_mask_decoder.w": 0}
    assert identify_sam3(sam3) == "SAM 3" and identify_sam3(sam3_1) == "SAM 3.1"
    assert describe_weights(sam3) == "SAM 3 weights"
    detector = {"detector.backbone.vision_backbone.trunk.w": 0}
    assert identify_sam3(detector) is None and describe_weights(detector).startswith("SAM 3 detector weights without the tracker")
    own = {"backbone.vision_backbone.trunk.w": 0}
    assert "not the official layout" in describe_weights(own)
    sam2 = {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(96, 3, 7, 7), "no_obj_embed_spatial": torch.zeros(1)}
    sam2.update({f"image_encoder.trunk.blocks.{i}.w": 0 for i in range(12)})
    assert describe_weights(sam2) == "SAM 2.1 tiny weights"
    assert describe_weights({"image_encoder.blocks.0.w": 0, "mask_decoder.w": 0}) == "SAM 1 weights"
    assert describe_weights({"a": 0, "b": 0, "c": 0, "d": 0}) == "no SAM weights (keys: a, b, c, ...)"


def test_best_per_box_normalises_the_single_box_shape():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 8, 10)) > 0.5  # N=1, C=3 as SAM predictors return it
    scores = np.array([0.2, 0.9, 0.4], np.float32)
    result = best_per_box(masks.astype(np.float32), scores, 1)
    assert result.masks.shape == (1, 8, 10) and result.masks.dtype == np.bool_ and np.array_equal(result.masks[0], masks[1])
    assert result.scores.tolist() == [pytest.approx(0.9)]
    many = best_per_box(np.stack([masks, ~masks]), np.array([[0.1, 0.2, 0.3], [0.9, 0.1, 0.1]]), 2)  # bool masks too
    assert many.masks.shape == (2, 8, 10)
    assert np.array_equal(many.masks[0], masks[2]) and np.array_equal(many.masks[1], ~masks[0])
