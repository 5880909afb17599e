"""Every way an ultralytics backend can fail to start is one clear segkit error, and nothing goes online."""

from __future__ import annotations

import sys

import pytest

from segkit import BackendNotReady
from segkit_torch import CheckpointError
from segkit_torch.testing import only_line, segment_without_network
from segkit_ultralytics import UltralyticsOptions, UltralyticsSam2Segmenter
from segkit_ultralytics.testing import random_weights


def segmenter(size: str, folder, **options) -> UltralyticsSam2Segmenter:
    settings = UltralyticsOptions(**{"weights_dir": folder, "device": "cpu", "imgsz": 128, **options})
    return UltralyticsSam2Segmenter(f"ultralytics-sam2.1-{size}", settings, size=size)


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path):
    backend = segmenter("b", tmp_path)
    assert only_line(backend.check_ready().reason) == (
        f"weights {tmp_path / 'sam2.1_b.pt'} not found; run `checkpoints/download.sh ultralytics-sam2.1-b` (or download"
        " https://github.com/ultralytics/assets/releases/download/v8.3.0/sam2.1_b.pt), or set -O ultralytics.weights_b=PATH"
        " (SEGKIT_ULTRALYTICS_WEIGHTS_B) to your copy"
    )


def test_a_renamed_file_is_refused_before_ultralytics_builds_anything(tmp_path):
    """'sam2_b.pt' would make Ultralytics build SAM 2.0, 'sam_b.pt' the original SAM: refuse, say why."""
    for name in ("sam2_b.pt", "sam_b.pt", "my-b-plus.pt"):
        path = random_weights("t", tmp_path, name=name)
        readiness = segmenter("b", tmp_path, weights_b=path).check_ready()
        assert not readiness.ready
        assert f"{name!r} does not say SAM 2.1 b+; name the file sam2.1_b.pt" in only_line(readiness.reason)
    assert segmenter("b", tmp_path, weights_b=random_weights("b", tmp_path, name="2025-sam2.1_b.pt")).check_ready().ready


def test_sam2_0_weights_under_the_2_1_name(tmp_path):
    random_weights("t", tmp_path, version="2.0", name="sam2.1_t.pt")
    with pytest.raises(CheckpointError) as caught:
        segmenter("t", tmp_path).load()
    assert "holds SAM 2.0 tiny weights but ultralytics-sam2.1-t is SAM 2.1 tiny" in only_line(str(caught.value))


def test_weights_of_another_size(tmp_path):
    random_weights("t", tmp_path, name="sam2.1_s.pt")
    with pytest.raises(CheckpointError) as caught:
        segmenter("s", tmp_path).load()
    message = only_line(str(caught.value))
    assert "holds SAM 2.1 tiny weights but ultralytics-sam2.1-s is SAM 2.1 small" in message
    assert "use the official sam2.1_s.pt (https://github.com/ultralytics/assets" in message


def test_a_file_that_is_no_checkpoint_is_not_ready(tmp_path):
    (tmp_path / "sam2.1_t.pt").write_bytes(b"\x00" * 1000)
    reason = only_line(segmenter("t", tmp_path).check_ready().reason)
    assert reason.startswith(f"weights {tmp_path / 'sam2.1_t.pt'} is not a PyTorch checkpoint")
    assert "replace it with the official sam2.1_t.pt: run `checkpoints/download.sh ultralytics-sam2.1-t`" in reason


def test_ultralytics_not_installed(tmp_path, monkeypatch):
    random_weights("t", tmp_path)
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # what `import ultralytics` sees when it is not installed
    backend = segmenter("t", tmp_path)
    assert backend.check_ready().reason == "the ultralytics package is not installed; pip install ultralytics"
    with pytest.raises(BackendNotReady, match="not installed"):
        backend.load()


def test_a_device_that_is_not_here(tmp_path):
    random_weights("t", tmp_path)
    with pytest.raises(BackendNotReady, match="CUDA is not available here|does not exist"):
        segmenter("t", tmp_path, device="cuda:99").load()


def test_bad_option_values_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple of 32"):
        UltralyticsOptions(imgsz=1000)


def test_loading_and_segmenting_make_no_network_attempt(tmp_path):
    """In a fresh process with every socket lookup and connection refused and recorded: Ultralytics is
    imported, builds, loads and segments without trying the network (no DNS probe, telemetry, download),
    with YOLO_OFFLINE unset (the backend's own default must do it)."""
    report = segment_without_network(
        f"""
        from pathlib import Path
        from segkit_ultralytics.testing import offline_segmenter
        segmenter = stack.enter_context(offline_segmenter("ultralytics-sam2.1-t", Path({str(tmp_path)!r})))
        """,
        unset=["YOLO_OFFLINE"],
    )
    assert report == {"attempts": [], "masks": [3, 120, 160]}
