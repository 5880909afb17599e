"""Several images per call (set_image_batch / predict_batch): the same masks as one image at a time."""

from __future__ import annotations

import numpy as np
import pytest

from segkit import BackendNotReady
from segkit.testing import SAMPLE_BOXES, sample_batch
from segkit_sam2 import Sam2Options, Sam2Segmenter
from segkit_sam2.testing import offline_segmenter
from segkit_torch.testing import assert_same_answers, loaded


# Images of different sizes in one batch (segkit.testing.sample_batch), with 3, 1 (sam2 drops the box axis), 2 and 1 boxes.
IMAGES, IMAGE_BOXES = sample_batch()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    yield from loaded(offline_segmenter("sam2-tiny", tmp_path_factory.mktemp("tiny"), batch_size=4))


@pytest.fixture(scope="module")
def one_by_one(tiny):
    """Each image through ``segment`` alone: the reference every batched answer must equal."""
    return [tiny.segment(image, boxes) for image, boxes in zip(IMAGES, IMAGE_BOXES)]


@pytest.fixture
def encoded(tiny):
    """The number of images of every image-encoder pass (a forward pre-hook; nothing replaced); clear it first."""
    seen: list[int] = []
    hook = tiny.predictor.model.image_encoder.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    yield seen
    hook.remove()


def test_batched_masks_equal_one_by_one_masks(tiny, one_by_one, encoded):
    encoded.clear()
    batched = tiny.segment_batch(IMAGES, IMAGE_BOXES)
    assert encoded == [4]  # one encoder pass for the four images
    assert_same_answers(batched, one_by_one)
    assert [r.masks.shape for r in batched] == [(3, 120, 160), (1, 150, 200), (2, 131, 97), (1, 64, 240)]


def test_more_images_than_the_batch_size_go_in_several_passes_best_of_3_included(tiny, encoded, monkeypatch):
    monkeypatch.setattr(tiny, "batch_size", 3)
    monkeypatch.setattr(tiny, "options", tiny.options.model_copy(update={"multimask_output": True}))
    expected = [tiny.segment(image, boxes) for image, boxes in zip(IMAGES, IMAGE_BOXES)]
    encoded.clear()
    batched = tiny.segment_batch(IMAGES, IMAGE_BOXES)
    assert encoded == [3, 1]
    assert_same_answers(batched, expected)  # the best of 3 per box, chosen the same way in both paths


def test_a_short_batch_padded_for_a_compiled_encoder_gives_the_same_masks(tiny, one_by_one, encoded, monkeypatch):
    """With compile the encoder must see batch_size images every time: a short batch is padded with copies
    of its last image and the extra answers dropped (exercised here without torch.compile, on the CPU)."""
    monkeypatch.setattr(tiny, "batch_size", 3)
    monkeypatch.setattr(tiny, "options", tiny.options.model_copy(update={"compile": True}))
    encoded.clear()
    batched = tiny.segment_batch(IMAGES[:2], IMAGE_BOXES[:2])
    single = tiny.segment(IMAGES[3], IMAGE_BOXES[3])  # a lone image is a short batch too
    assert encoded == [3, 3]
    assert_same_answers(batched, one_by_one[:2])
    assert_same_answers([single], one_by_one[3:])


def test_a_failing_batch_leaves_the_backend_ready_for_one_image_at_a_time(tiny, one_by_one):
    """What segkit's runner does when a batched call raises: it retries the batch's images one by one.
    The backend must keep nothing of the failed batch, and the good images must get their usual masks."""
    broken = np.zeros((50, 60, 4), np.uint8)  # four channels: sam2's normalisation cannot take it
    with pytest.raises(Exception):
        tiny.segment_batch([IMAGES[0], broken, IMAGES[1]], [IMAGE_BOXES[0], SAMPLE_BOXES[:1], IMAGE_BOXES[1]])
    assert tiny.predictor._features is None and not tiny.predictor._is_image_set
    retried = [tiny.segment(image, boxes) for image, boxes in zip(IMAGES[:2], IMAGE_BOXES[:2])]
    assert_same_answers(retried, one_by_one[:2])


def test_batch_size_and_compile_are_options_and_recorded():
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(batch_size=8), size="tiny")
    assert segmenter.batch_size == 8  # what the runner reads to group images
    settings = segmenter.settings()
    assert settings["batch_size"] == 8 and settings["compile"] is False
    assert Sam2Segmenter("sam2-tiny", size="tiny").batch_size == 1  # one image at a time unless asked


def test_compile_is_refused_off_cuda_before_building_anything(tmp_path):
    with offline_segmenter("sam2-tiny", tmp_path, compile=True) as segmenter:
        with pytest.raises(BackendNotReady) as caught:
            segmenter.load()
        assert segmenter.predictor is None
    message = str(caught.value)
    assert "\n" not in message
    assert "sam2.compile=true compiles for CUDA only, and the device here is cpu" in message
