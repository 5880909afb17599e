"""Every way a sam2 backend can fail to start is one clear segkit error: what, where, how to fix."""

from __future__ import annotations

import sys

import pytest
import torch

from segkit import BackendNotReady
from segkit_sam2 import Sam2Options, Sam2Segmenter
from segkit_torch import CheckpointError
from segkit_torch.testing import only_line
from segkit_sam2.testing import random_checkpoint


def tiny(folder, **options) -> Sam2Segmenter:
    return Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=folder, device="cpu", image_size=128, **options), size="tiny")


def test_missing_checkpoint_names_the_file_and_how_to_get_it(tmp_path):
    segmenter = Sam2Segmenter("sam2-large", Sam2Options(checkpoint_dir=tmp_path), size="large")
    assert only_line(segmenter.check_ready().reason) == (
        f"checkpoint {tmp_path / 'sam2.1_hiera_large.pt'} not found; run `checkpoints/download.sh sam2-large` (or download"
        " https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt), or set -O sam2.checkpoint_large=PATH"
        " (SEGKIT_SAM2_CHECKPOINT_LARGE) to your copy"
    )


def test_a_folder_given_as_checkpoint_is_refused(tmp_path):
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_tiny=tmp_path), size="tiny")
    assert "is a folder" in segmenter.check_ready().reason


def test_checkpoint_of_another_size(tmp_path):
    random_checkpoint("tiny", tmp_path, name="sam2.1_hiera_small.pt")
    segmenter = Sam2Segmenter("sam2-small", Sam2Options(checkpoint_dir=tmp_path, device="cpu"), size="small")
    assert segmenter.check_ready().ready  # a file is there; what it holds shows at load
    with pytest.raises(CheckpointError) as caught:
        segmenter.load()
    message = only_line(str(caught.value))
    assert "holds SAM 2.1 tiny weights but sam2-small is SAM 2.1 small" in message
    assert "sam2.1_hiera_small.pt (https://dl.fbaipublicfiles.com" in message


def test_sam2_0_checkpoint_under_a_2_1_name(tmp_path):
    random_checkpoint("tiny", tmp_path, version="2.0", name="sam2.1_hiera_tiny.pt")
    with pytest.raises(CheckpointError) as caught:
        tiny(tmp_path).load()
    assert "holds SAM 2.0 tiny weights but sam2-tiny is SAM 2.1 tiny" in only_line(str(caught.value))


def test_strict_load_failure_of_the_right_model(tmp_path):
    """torch's strict load raises a RuntimeError listing keys; the user gets one line instead."""
    good = random_checkpoint("tiny", tmp_path / "good")
    state = torch.load(good, map_location="cpu", weights_only=True)["model"]
    del state["sam_mask_decoder.iou_prediction_head.layers.0.weight"]
    torch.save({"model": state}, tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(CheckpointError) as caught:
        tiny(tmp_path).load()
    message = only_line(str(caught.value))
    assert "looks like SAM 2.1 tiny but does not load: RuntimeError: Error(s) in loading state_dict" in message
    assert "Missing key(s)" in message


def test_weights_not_under_the_model_key(tmp_path):
    good = random_checkpoint("tiny", tmp_path / "good")
    torch.save(torch.load(good, map_location="cpu", weights_only=True)["model"], tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(CheckpointError, match="weights are not under the key 'model'"):
        tiny(tmp_path).load()


def test_a_file_that_is_no_checkpoint_is_not_ready(tmp_path):
    """Told by its first bytes, for `segkit backends`, before anything loads."""
    (tmp_path / "sam2.1_hiera_tiny.pt").write_text("<html>404 Not Found</html>")
    readiness = tiny(tmp_path).check_ready()
    assert not readiness.ready
    assert f"checkpoint {tmp_path / 'sam2.1_hiera_tiny.pt'} is not a PyTorch checkpoint" in only_line(readiness.reason)
    assert "replace it with the official sam2.1_hiera_tiny.pt: run `checkpoints/download.sh sam2-tiny`" in readiness.reason
    with pytest.raises(BackendNotReady, match="is not a PyTorch checkpoint"):
        tiny(tmp_path).load()


def test_a_pickle_of_objects_never_repeats_torchs_unsafe_advice(tmp_path):
    """torch's refusal says to retry with weights_only=False; segkit says what the file holds instead."""
    torch.save({"model": {"trunk": torch.nn.Linear(2, 2)}}, tmp_path / "sam2.1_hiera_tiny.pt")
    assert tiny(tmp_path).check_ready().ready  # a real torch file; what it holds shows at load
    with pytest.raises(CheckpointError) as caught:
        tiny(tmp_path).load()
    message = only_line(str(caught.value))
    assert "is not a readable PyTorch checkpoint" in message and "torch.nn.modules.linear.Linear" in message
    assert "weights_only" not in message and "trust" not in message


def test_config_missing_from_the_installed_sam2(tmp_path):
    random_checkpoint("tiny", tmp_path)
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=tmp_path), size="tiny", config="configs/sam2.1/sam2.1_hiera_x.yaml")
    readiness = segmenter.check_ready()
    assert not readiness.ready and "has no config 'configs/sam2.1/sam2.1_hiera_x.yaml'" in only_line(readiness.reason)
    absolute = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=tmp_path), size="tiny", config=str(tmp_path / "my.yaml"))
    assert "a name inside the sam2 package, not a file path" in absolute.check_ready().reason


@pytest.fixture
def hydra_owned_by_the_application(tmp_path):
    """An application that initialised hydra on its own config folder before segkit loads sam2."""
    import sam2  # noqa: F401  (sam2 initialises hydra on import when nobody did)
    from hydra import initialize_config_dir, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    (tmp_path / "conf").mkdir()
    GlobalHydra.instance().clear()
    initialize_config_dir(config_dir=str(tmp_path / "conf"), version_base="1.2")
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        initialize_config_module("sam2", version_base="1.2")


def test_hydra_missing_config_exception_becomes_one_line(tmp_path, hydra_owned_by_the_application):
    random_checkpoint("tiny", tmp_path)
    with pytest.raises(BackendNotReady) as caught:
        tiny(tmp_path).load()
    message = only_line(str(caught.value))
    assert "sam2 has no config 'configs/sam2.1/sam2.1_hiera_t.yaml'" in message
    assert "initialises hydra itself" in message


def test_sam2_not_installed(tmp_path, monkeypatch):
    random_checkpoint("tiny", tmp_path)
    monkeypatch.setitem(sys.modules, "sam2", None)  # what `import sam2` sees when it is not installed
    segmenter = tiny(tmp_path)
    assert "the sam2 package is not installed; pip install sam2" in segmenter.check_ready().reason
    with pytest.raises(BackendNotReady, match="not installed"):
        segmenter.load()


def test_a_device_that_is_not_here(tmp_path):
    random_checkpoint("tiny", tmp_path)
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=tmp_path, device="cuda:99"), size="tiny")
    with pytest.raises(BackendNotReady, match="CUDA is not available here|does not exist"):
        segmenter.load()


def test_an_image_size_off_the_backbone_stride_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple of 32"):
        Sam2Options(image_size=100)

