"""TorchSegmenter from a plugin author's side: the smallest torch backend, run through the base's real paths."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from segkit import BackendNotReady, Segmentation
from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_torch import CheckpointError, TorchOptions, TorchSegmenter


class BoxOptions(TorchOptions):
    checkpoint: Path = Path("box.pt")
    compile: bool = False


class BoxSegmenter(TorchSegmenter):
    """Fills each box; its score is the checkpoint's one weight. Records what the base set up around forward."""

    options_key = "box"
    Options = BoxOptions
    package = "torch"
    held = ("weight",)
    checkpoint_file = "box.pt"
    seen: list

    def how_to_get(self) -> str:
        return "run `make box.pt`"

    def build(self) -> None:
        warnings.warn(f"reading {self.checkpoint} is deprecated", FutureWarning)  # an upstream's chatter (once per process)
        self.weight = torch.load(self.checkpoint, weights_only=True)["model"]["score"].to(self.device)
        self.seen = []

    def forward(self, images, boxes):
        self.seen.append((len(images), torch.is_inference_mode_enabled()))
        results = []
        for image, image_boxes in zip(images, boxes):
            masks = np.zeros((len(image_boxes), *image.shape[:2]), bool)
            for mask, (x1, y1, x2, y2) in zip(masks, image_boxes.astype(int)):
                mask[y1:y2, x1:x2] = True
            results.append(Segmentation(masks, np.full(len(image_boxes), float(self.weight))))
        return results


def box_file(folder: Path, score: float = 0.75) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"score": torch.tensor(score)}}, folder / "box.pt")
    return folder / "box.pt"


def segmenter(path: Path, **options) -> BoxSegmenter:
    return BoxSegmenter("box", BoxOptions(checkpoint=path, device="cpu", **options))


def test_readiness_says_what_the_file_is(tmp_path):
    assert segmenter(tmp_path / "box.pt").check_ready().reason == (
        f"checkpoint {tmp_path / 'box.pt'} not found; run `make box.pt`, or set -O box.checkpoint=PATH (SEGKIT_BOX_CHECKPOINT) to your copy"
    )
    with pytest.raises(BackendNotReady, match="not found"):
        segmenter(tmp_path / "box.pt").load()
    assert "is a folder; point box.checkpoint at the file box.pt" in segmenter(tmp_path).check_ready().reason
    (tmp_path / "box.pt").write_text("not weights")
    reason = segmenter(tmp_path / "box.pt").check_ready().reason
    assert reason.startswith(f"checkpoint {tmp_path / 'box.pt'} is not a PyTorch checkpoint")
    assert reason.endswith("replace it with the official box.pt: run `make box.pt`")
    with pytest.raises(BackendNotReady, match="is not a PyTorch checkpoint"):
        segmenter(tmp_path / "box.pt").load()
    assert segmenter(box_file(tmp_path / "ok")).check_ready().ready


def test_device_dtype_inference_mode_and_the_batch_loop(tmp_path):
    backend = segmenter(box_file(tmp_path), batch_size=3)
    backend.load()
    assert (backend.device, backend.dtype, backend.tf32) == (torch.device("cpu"), torch.float32, False)
    images, boxes = [sample_image(i) for i in range(4)], [SAMPLE_BOXES] * 4
    answers = backend.segment_batch(images, boxes)
    assert backend.seen == [(3, True), (1, True)]  # batch_size images per forward, each in inference mode
    assert len(answers) == 4 and answers[0].scores.tolist() == [0.75] * 3
    settings = backend.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert (settings["device"], settings["dtype"], settings["batch_size"]) == ("cpu", "float32", 3)
    backend.close()
    assert backend.weight is None and not backend.loaded
    backend.close()


def test_upstream_warnings_are_logged_once_not_printed(tmp_path, caplog, capfd):
    caplog.set_level(logging.INFO, logger="segkit")
    for _ in range(2):
        backend = segmenter(box_file(tmp_path))
        backend.load()
        backend.close()
    logged = [r.getMessage() for r in caplog.records if f"reading {tmp_path / 'box.pt'} is deprecated" in r.getMessage()]
    assert len(logged) == 1 and logged[0].startswith("upstream FutureWarning")
    assert "deprecated" not in capfd.readouterr().err


def test_a_file_that_does_not_load_is_a_checkpoint_error_without_unsafe_advice(tmp_path):
    torch.save({"model": {"score": torch.nn.Linear(1, 1)}}, tmp_path / "box.pt")  # objects, not tensors
    with pytest.raises(CheckpointError) as caught:
        segmenter(tmp_path / "box.pt").load()
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message
    assert message.startswith(f"backend 'box': checkpoint {tmp_path / 'box.pt'} does not load (UnpicklingError: Unsupported global")
    assert "weights_only" not in message and "trust" not in message


def test_compile_is_refused_off_cuda_before_building(tmp_path):
    backend = segmenter(box_file(tmp_path), compile=True)
    with pytest.raises(BackendNotReady, match="box.compile=true compiles for CUDA only"):
        backend.load()
    assert not backend.loaded


def test_a_device_that_is_not_here(tmp_path):
    with pytest.raises(BackendNotReady, match="CUDA is not available here|does not exist"):
        BoxSegmenter("box", BoxOptions(checkpoint=box_file(tmp_path), device="cuda:99")).load()
