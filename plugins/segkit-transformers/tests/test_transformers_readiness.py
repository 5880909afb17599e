"""What `segkit backends` and load say for every way an hf-* backend cannot run: one line, the fix."""

from __future__ import annotations

import json
import os
import sys

import pytest
from safetensors.torch import load_file, save_file

from segkit import BackendNotReady
from segkit_torch import CheckpointError
from segkit_torch.testing import only_line, segment_without_network
from segkit_transformers import TransformersOptions, TransformersSegmenter, backend
from segkit_transformers.testing import random_model_folder


def segmenter(name: str, model_dir, **options) -> TransformersSegmenter:
    key = {"hf-sam2.1-tiny": "tiny", "hf-sam2.1-large": "large", "hf-sam3": "sam3"}[name]
    return TransformersSegmenter(name, TransformersOptions(model_dir=model_dir, device="cpu", **options), key=key)


def reason(name: str, model_dir, **options) -> str:
    readiness = segmenter(name, model_dir, **options).check_ready()
    assert not readiness.ready
    return only_line(readiness.reason)


def test_transformers_not_installed(tmp_path, monkeypatch):
    random_model_folder("hf-sam2.1-tiny", tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)  # what `import transformers` sees when it is not installed
    assert reason("hf-sam2.1-tiny", tmp_path) == "the transformers package is not installed; pip install 'transformers>=5'"
    with pytest.raises(BackendNotReady, match="not installed"):
        segmenter("hf-sam2.1-tiny", tmp_path).load()


def test_transformers_too_old(tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "package_version", lambda name: "4.57.1")
    assert reason("hf-sam3", tmp_path) == "transformers 4.57.1 is too old (SAM 3's tracker came with transformers 5); pip install -U 'transformers>=5'"


def test_missing_folder_names_it_and_the_download_command(tmp_path):
    text = reason("hf-sam2.1-large", tmp_path)
    folder = tmp_path / "sam2.1-hiera-large"
    assert text.startswith(f"model folder {folder} not found; run `hf download facebook/sam2.1-hiera-large --exclude \"*.pt\" --local-dir {folder}`")
    assert "-O transformers.folder_large=PATH" in text and "-O transformers.allow_network=true" in text
    gated = reason("hf-sam3", tmp_path)
    assert "accept the licence at https://huggingface.co/facebook/sam3, run `hf auth login`, then `hf download facebook/sam3" in gated
    with pytest.raises(BackendNotReady, match="not found"):
        segmenter("hf-sam3", tmp_path).load()


def test_allow_network_makes_a_missing_folder_a_hub_id(tmp_path):
    readiness = segmenter("hf-sam2.1-large", tmp_path, allow_network=True).check_ready()
    assert readiness.ready and readiness.reason.startswith("facebook/sam2.1-hiera-large from the Hugging Face Hub (allow_network is on")
    # a folder that is there but wrong is not replaced by a download
    (tmp_path / "sam2.1-hiera-large").mkdir()
    assert "has no config.json" in reason("hf-sam2.1-large", tmp_path, allow_network=True)


def test_wrong_folders(tmp_path):
    large = tmp_path / "sam2.1-hiera-large"
    (tmp_path / "sam2.1-hiera-large").write_text("not a folder")
    assert "is a file; transformers loads a folder" in reason("hf-sam2.1-large", tmp_path)
    large.unlink()
    large.mkdir()
    assert "has no config.json, so it is not a from_pretrained folder" in reason("hf-sam2.1-large", tmp_path)
    (large / "config.json").write_text("{broken")
    assert "config.json is not readable JSON" in reason("hf-sam2.1-large", tmp_path)
    (large / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert f"{large} holds a bert model (config model_type 'bert'), not SAM 2.1 hiera large" in reason("hf-sam2.1-large", tmp_path)


def test_another_size_sam2_0_or_sam3_in_the_folder(tmp_path):
    tiny = random_model_folder("hf-sam2.1-tiny", tmp_path)
    tiny.rename(tmp_path / "sam2.1-hiera-large")
    assert "holds SAM 2.1 hiera tiny weights, not SAM 2.1 hiera large" in reason("hf-sam2.1-large", tmp_path)

    random_model_folder("hf-sam2.1-tiny", tmp_path / "old", version="2.0")
    assert "holds SAM 2.0 hiera tiny weights, not SAM 2.1 hiera tiny" in reason("hf-sam2.1-tiny", tmp_path / "old")

    sam3 = random_model_folder("hf-sam3", tmp_path / "mixed")
    sam3.rename(tmp_path / "mixed" / "sam2.1-hiera-tiny")
    assert "holds SAM 3 (config model_type 'sam3_video'), not SAM 2.1 hiera tiny" in reason("hf-sam2.1-tiny", tmp_path / "mixed")

    detector_only = tmp_path / "detector" / "sam3"
    detector_only.mkdir(parents=True)
    (detector_only / "config.json").write_text(json.dumps({"model_type": "sam3"}))
    assert "holds SAM 3 (its concept detector only, without the tracker)" in reason("hf-sam3", tmp_path / "detector")


def test_the_fix_for_a_folder_holding_another_model_never_downloads_into_it(tmp_path):
    """`hf download --local-dir` into a folder that holds another model would overwrite it: the fix names a
    folder beside it that does not exist yet, and the option that points the backend there."""
    random_model_folder("hf-sam2.1-tiny", tmp_path).rename(tmp_path / "sam2.1-hiera-large")
    fresh = tmp_path / "sam2.1-hiera-large-2"
    text = reason("hf-sam2.1-large", tmp_path)
    assert f'--local-dir {fresh}` and set -O transformers.folder_large={fresh}' in text
    assert f"--local-dir {tmp_path / 'sam2.1-hiera-large'}`" not in text
    fresh.mkdir()
    (fresh / "notes.txt").write_text("mine")  # taken too: the next free name
    assert f"--local-dir {tmp_path / 'sam2.1-hiera-large-3'}`" in reason("hf-sam2.1-large", tmp_path)

    mine = tmp_path / "mine"  # the option names a folder of the user's holding a bert model
    mine.mkdir()
    (mine / "config.json").write_text(json.dumps({"model_type": "bert"}))
    text = segmenter("hf-sam2.1-tiny", tmp_path, folder_tiny=mine).check_ready().reason
    assert f"--local-dir {tmp_path / 'sam2.1-hiera-tiny'}` and set -O transformers.folder_tiny={tmp_path / 'sam2.1-hiera-tiny'}" in text

    unfinished = random_model_folder("hf-sam2.1-tiny", tmp_path / "unfinished")  # the same model, half there
    os.unlink(unfinished / "model.safetensors")
    assert f"--local-dir {unfinished}`" in reason("hf-sam2.1-tiny", tmp_path / "unfinished")  # finish it in place


def test_an_unfinished_download(tmp_path):
    folder = random_model_folder("hf-sam2.1-tiny", tmp_path)
    os.unlink(folder / "processor_config.json")
    assert "has no processor_config.json or preprocessor_config.json" in reason("hf-sam2.1-tiny", tmp_path)
    os.unlink(folder / "model.safetensors")
    assert "has no weights (model.safetensors); the download did not finish" in reason("hf-sam2.1-tiny", tmp_path)


def test_weights_that_leave_part_of_the_model_random_are_refused_at_load(tmp_path):
    """transformers loads such a folder with a logged report and random values in the gaps; segkit stops."""
    folder = random_model_folder("hf-sam2.1-tiny", tmp_path)
    state = load_file(folder / "model.safetensors")
    os.unlink(folder / "model.safetensors")  # a hard link into the shared cache: replace it, never write into it
    save_file({k: v for k, v in state.items() if not k.startswith("mask_decoder.")}, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as caught:
        segmenter("hf-sam2.1-tiny", tmp_path).load()
    message = str(caught.value)
    assert "\n" not in message
    assert f"backend 'hf-sam2.1-tiny': folder {folder} lacks" in message and "of the model's weights (e.g. mask_decoder." in message
    assert "so it does not hold SAM 2.1 hiera tiny; run `hf download facebook/sam2.1-hiera-tiny" in message


def test_a_corrupt_weight_file_is_one_line(tmp_path):
    folder = random_model_folder("hf-sam2.1-tiny", tmp_path)
    os.unlink(folder / "model.safetensors")
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError) as caught:
        segmenter("hf-sam2.1-tiny", tmp_path).load()
    message = str(caught.value)
    assert "\n" not in message and f"folder {folder} could not be loaded by transformers (" in message


def test_loading_makes_no_network_attempt(tmp_path):
    """In a fresh process, with every socket lookup and connection refused and recorded, and the hub's offline
    switches unset, an hf-* backend loads from its folder and segments."""
    random_model_folder("hf-sam2.1-tiny", tmp_path / "hf")
    report = segment_without_network(
        f"""
        from segkit_transformers import TransformersOptions, TransformersSegmenter
        segmenter = TransformersSegmenter("hf-sam2.1-tiny", TransformersOptions(model_dir={str(tmp_path / "hf")!r}, device="cpu"), key="tiny")
        """,
        unset=["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"],
    )
    assert report == {"attempts": [], "masks": [3, 120, 160]}
