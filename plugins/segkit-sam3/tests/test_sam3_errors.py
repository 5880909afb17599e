"""Every way the sam3 backend can fail to start is one clear segkit error, and nothing is ever downloaded."""

from __future__ import annotations

import sys

import pytest
import torch

from segkit import BackendNotReady
from segkit_sam3 import Sam3Options, Sam3Segmenter, checkpoints, vocabulary
from segkit_sam3.testing import random_checkpoint, reduced
from segkit_torch import CheckpointError
from segkit_torch.testing import only_line, segment_without_network


def segmenter(path, **options) -> Sam3Segmenter:
    return Sam3Segmenter("sam3", Sam3Options(checkpoint=path, device="cpu", **options))


def load_error(path) -> str:
    with reduced(), pytest.raises(CheckpointError) as caught:
        segmenter(path).load()
    return only_line(str(caught.value))


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """The reduced random SAM 3 checkpoint's tensors, official layout (read once)."""
    path = random_checkpoint(tmp_path_factory.mktemp("good"))
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def test_missing_checkpoint_names_the_file_and_how_to_get_it(tmp_path):
    backend = Sam3Segmenter("sam3", Sam3Options(checkpoint=tmp_path / "sam3.pt"))
    readiness = backend.check_ready()
    assert not readiness.ready
    reason = only_line(readiness.reason)
    assert f"checkpoint {tmp_path / 'sam3.pt'} not found" in reason
    assert "https://huggingface.co/facebook/sam3" in reason and "checkpoints/download.sh sam3" in reason
    assert "sam3.checkpoint=PATH" in reason and "SEGKIT_SAM3_CHECKPOINT" in reason
    with pytest.raises(BackendNotReady, match="not found"):
        backend.load()


def test_a_folder_given_as_checkpoint_is_refused(tmp_path):
    assert "is a folder; point sam3.checkpoint at the file sam3.pt" in segmenter(tmp_path).check_ready().reason


def test_a_sam2_checkpoint_renamed_sam3_pt(tmp_path):
    """sam3 would load it with strict=False, find none of its keys and run on random weights, silently."""
    from segkit_sam2.testing import random_checkpoint as sam2_checkpoint

    path = sam2_checkpoint("tiny", tmp_path, name="sam3.pt")
    assert segmenter(path).check_ready().ready  # a file is there; what it holds shows at load
    message = load_error(path)
    assert f"checkpoint {path} cannot be used: it holds SAM 2.1 tiny weights" in message
    assert "use the official sam3.pt (https://huggingface.co/facebook/sam3)" in message


def test_a_file_that_is_no_checkpoint_is_not_ready(tmp_path):
    """Told by its first bytes, so `segkit backends` says it too, and nothing is imported or loaded."""
    (tmp_path / "sam3.pt").write_text("<html>403 Forbidden: this repository is gated</html>")
    readiness = segmenter(tmp_path / "sam3.pt").check_ready()
    assert not readiness.ready
    reason = only_line(readiness.reason)
    assert reason.startswith(f"checkpoint {tmp_path / 'sam3.pt'} is not a PyTorch checkpoint (it holds HTML")
    assert "replace it with the official sam3.pt: request access to https://huggingface.co/facebook/sam3" in reason
    with pytest.raises(BackendNotReady, match="is not a PyTorch checkpoint"):
        segmenter(tmp_path / "sam3.pt").load()


def test_what_other_files_are_said_to_hold(state):
    detector_only = {k: v for k, v in state.items() if not k.startswith("tracker.")}
    assert checkpoints.problem(state) is None
    assert "SAM 3 detector weights without the tracker" in checkpoints.problem(detector_only)
    sam3_1 = {k.replace("tracker.", "tracker.model.interactive_"): v for k, v in state.items()}
    assert "SAM 3.1 weights (facebook/sam3.1), which this sam3 package does not load" in checkpoints.problem(sam3_1)


def test_a_checkpoint_missing_weights_that_box_prompts_use(tmp_path, state):
    """A SAM 3 file whose mask decoder lacks a layer: sam3 prints a list and goes on; segkit refuses."""
    dropped = "tracker.sam_mask_decoder.iou_prediction_head.layers.0."
    torch.save({k: v for k, v in state.items() if not k.startswith(dropped)}, tmp_path / "sam3.pt")
    message = load_error(tmp_path / "sam3.pt")
    assert "lacks 2 of the weights box prompts use" in message
    assert "inst_interactive_predictor.model.sam_mask_decoder.iou_prediction_head.layers.0.weight" in message


def test_a_checkpoint_of_another_shape(tmp_path, state):
    wrong = dict(state)
    wrong["tracker.sam_mask_decoder.iou_token.weight"] = torch.zeros(2, 256)
    torch.save(wrong, tmp_path / "sam3.pt")
    message = load_error(tmp_path / "sam3.pt")
    assert "holds SAM 3 weights but does not load" in message and "size mismatch" in message


def test_sam3_not_installed(tmp_path, monkeypatch):
    path = random_checkpoint(tmp_path)
    monkeypatch.setitem(sys.modules, "sam3", None)  # what `import sam3` sees when it is not installed
    backend = segmenter(path)
    assert backend.check_ready().reason == "the sam3 package is not installed; pip install sam3"
    with pytest.raises(BackendNotReady, match="not installed"):
        backend.load()


def test_the_tokenizer_vocabulary_missing(tmp_path, monkeypatch):
    path = random_checkpoint(tmp_path)
    named = segmenter(path, bpe_path=tmp_path / "nowhere.txt.gz").check_ready()
    assert not named.ready and f"tokenizer vocabulary {tmp_path / 'nowhere.txt.gz'} not found" in named.reason
    if any(p.is_file() for p in vocabulary.candidates() if "open_clip" not in str(p)):
        pytest.skip("this sam3 ships its own vocabulary")
    monkeypatch.setitem(sys.modules, "open_clip", None)  # open_clip_torch not installed
    reason = only_line(segmenter(path).check_ready().reason)
    assert "bpe_simple_vocab_16e6.txt.gz is missing (the sam3 wheels on PyPI do not ship it): pip install open_clip_torch" in reason


def test_the_vocabulary_found_is_the_one_sam3_ships_on_github():
    """open_clip's copy is byte for byte the file in facebookresearch/sam3 (git blob 7b5088a5...)."""
    import hashlib

    data = vocabulary.find(None).read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert blob == "7b5088a527f720063f044eb928eee315f63b2fc0"


def test_a_device_that_is_not_here(tmp_path):
    path = random_checkpoint(tmp_path)
    with pytest.raises(BackendNotReady, match="CUDA is not available here|does not exist"):
        Sam3Segmenter("sam3", Sam3Options(checkpoint=path, device="cuda:99")).load()


def test_bad_option_values_are_refused():
    from pydantic import ValidationError

    for bad in ({"batch_size": 65}, {"max_hole_area": -1}, {"weights": "x"}):
        with pytest.raises(ValidationError):
            Sam3Options(**bad)


def test_loading_and_segmenting_make_no_network_attempt(tmp_path):
    """In a fresh process with sockets refused and the hub download recorded: sam3 is imported, the model is
    built and loaded from the file, and an image is segmented, without one attempt to reach the network."""
    path = random_checkpoint(tmp_path)
    report = segment_without_network(
        f"""
        import huggingface_hub
        huggingface_hub.hf_hub_download = lambda *a, **k: attempts.append(("hf_hub_download", a, k))
        from segkit_sam3 import Sam3Options, Sam3Segmenter
        from segkit_sam3.testing import reduced
        stack.enter_context(reduced())
        segmenter = Sam3Segmenter("sam3", Sam3Options(checkpoint={str(path)!r}, device="cpu"))
        """
    )
    assert report == {"attempts": [], "masks": [3, 120, 160]}
