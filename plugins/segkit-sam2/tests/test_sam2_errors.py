"""Every way a sam2 backend can fail to start is one clear segkit error: what, where, how to fix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from segkit import BackendFatalError
from segkit.errors import BackendNotReady
from segkit_sam2 import Sam2Options, Sam2Segmenter
from segkit_sam2.testing import random_checkpoint


def tiny(folder, **options) -> Sam2Segmenter:
    return Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=folder, device="cpu", image_size=128, **options), size="tiny")


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_missing_checkpoint_names_the_file_and_how_to_get_it(tmp_path):
    segmenter = Sam2Segmenter("sam2-large", Sam2Options(checkpoint_dir=tmp_path), size="large")
    readiness = segmenter.check_ready()
    assert not readiness.ready
    reason = one_line(readiness.reason)
    assert str(tmp_path / "sam2.1_hiera_large.pt") in reason
    assert "checkpoints/download.sh sam2-large" in reason
    assert "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt" in reason
    assert "sam2.checkpoint_large" in reason
    with pytest.raises(BackendNotReady, match="not found"):
        segmenter.load()


def test_a_folder_given_as_checkpoint_is_refused(tmp_path):
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_tiny=tmp_path), size="tiny")
    assert "is a folder" in segmenter.check_ready().reason


def test_checkpoint_of_another_size(tmp_path):
    random_checkpoint("tiny", tmp_path, name="sam2.1_hiera_small.pt")
    segmenter = Sam2Segmenter("sam2-small", Sam2Options(checkpoint_dir=tmp_path, device="cpu"), size="small")
    assert segmenter.check_ready().ready  # a file is there; what it holds shows at load
    with pytest.raises(BackendFatalError) as caught:
        segmenter.load()
    message = one_line(str(caught.value))
    assert "holds SAM 2.1 tiny weights but sam2-small is SAM 2.1 small" in message
    assert "sam2.1_hiera_small.pt (https://dl.fbaipublicfiles.com" in message


def test_sam2_0_checkpoint_under_a_2_1_name(tmp_path):
    random_checkpoint("tiny", tmp_path, version="2.0", name="sam2.1_hiera_tiny.pt")
    with pytest.raises(BackendFatalError) as caught:
        tiny(tmp_path).load()
    assert "holds SAM 2.0 tiny weights but sam2-tiny is SAM 2.1 tiny" in one_line(str(caught.value))


def test_strict_load_failure_of_the_right_model(tmp_path):
    """torch's strict load raises a RuntimeError listing keys; the user gets one line instead."""
    good = random_checkpoint("tiny", tmp_path / "good")
    state = torch.load(good, map_location="cpu", weights_only=True)["model"]
    del state["sam_mask_decoder.iou_prediction_head.layers.0.weight"]
    torch.save({"model": state}, tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(BackendFatalError) as caught:
        tiny(tmp_path).load()
    message = one_line(str(caught.value))
    assert "looks like SAM 2.1 tiny but does not load into configs/sam2.1/sam2.1_hiera_t.yaml" in message
    assert "Missing key(s)" in message


def test_weights_not_under_the_model_key(tmp_path):
    good = random_checkpoint("tiny", tmp_path / "good")
    torch.save(torch.load(good, map_location="cpu", weights_only=True)["model"], tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(BackendFatalError, match="weights are not under the key 'model'"):
        tiny(tmp_path).load()


def test_a_file_that_is_no_checkpoint(tmp_path):
    (tmp_path / "sam2.1_hiera_tiny.pt").write_text("<html>404 Not Found</html>")
    with pytest.raises(BackendFatalError) as caught:
        tiny(tmp_path).load()
    assert "is not a readable PyTorch checkpoint" in one_line(str(caught.value))


def test_config_missing_from_the_installed_sam2(tmp_path):
    random_checkpoint("tiny", tmp_path)
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_dir=tmp_path), size="tiny", config="configs/sam2.1/sam2.1_hiera_x.yaml")
    readiness = segmenter.check_ready()
    assert not readiness.ready and "has no config 'configs/sam2.1/sam2.1_hiera_x.yaml'" in one_line(readiness.reason)
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
    message = one_line(str(caught.value))
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


def test_bad_option_values_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="auto, cpu, cuda"):
        Sam2Options(device="gpu0")
    with pytest.raises(ValidationError, match="multiple of 32"):
        Sam2Options(image_size=100)
    with pytest.raises(ValidationError):
        Sam2Options(dtype="float8")
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Sam2Options(batch_size=0)


def test_readiness_checks_import_no_heavy_library():
    """`segkit backends` must stay fast: listing and checking the backends imports neither torch nor sam2."""
    code = textwrap.dedent(
        """
        import json, sys
        from typer.testing import CliRunner
        from segkit.cli import app
        result = CliRunner().invoke(app, ["backends", "--json"])
        heavy = sorted(m for m in ("torch", "torchvision", "sam2", "hydra", "ultralytics") if m in sys.modules)
        print(json.dumps({"code": result.exit_code, "heavy": heavy, "out": result.output}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, report["out"]
    assert report["heavy"] == [], f"`segkit backends` imported {report['heavy']}"
    rows = {row["name"]: row for row in json.loads(report["out"])["backends"]}
    assert {"sam2-tiny", "sam2-small", "sam2-base-plus", "sam2-large"} <= set(rows)
    assert rows["sam2-base-plus"]["aliases"] == ["sam2-b+"]
    for name in ("sam2-tiny", "sam2-large"):
        assert rows[name]["ready"] or "sam2.1_hiera_" in rows[name]["reason"]
