"""The sam2-* backends on real SAM 2.1 architectures with random weights, loaded from checkpoint files."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.testing import SAMPLE_BOXES, SegmenterContract, backend_entry, registered_backends, sample_image
from segkit_sam2.models import MODELS
from segkit_sam2.testing import OFFLINE_IMAGE_SIZE, offline_segmenter, random_checkpoint
from segkit_torch.testing import RED, input_of, loaded, solid_image


class TestContract(SegmenterContract):
    backend = "sam2-tiny"
    options = {"batch_size": 4}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """sam2-tiny, loaded once for the tests that only segment."""
    yield from loaded(offline_segmenter("sam2-tiny", tmp_path_factory.mktemp("tiny")))


def test_the_four_models_are_registered_with_the_b_plus_alias():
    registered = registered_backends("sam2")
    assert {name: entry.params for name, entry in registered.items()} == {m.backend: {"size": m.key} for m in MODELS.values()}
    assert backend_entry("sam2-b+").name == "sam2-base-plus"
    assert backend_entry("sam2-base-plus").aliases == ("sam2-b+",)
    assert backend_entry("sam2-large").description == "Meta SAM 2.1 hiera large (sam2.1_hiera_large.pt)"


def test_same_answer_twice(tiny):
    image, boxes = sample_image(1), SAMPLE_BOXES
    first, second = tiny.segment(image, boxes), tiny.segment(image, boxes)
    assert np.array_equal(first.masks, second.masks) and np.array_equal(first.scores, second.scores)


def test_the_model_receives_the_rgb_pixels_it_was_given(tiny):
    """sam2 takes RGB: a red image must reach the image encoder with its red channel highest."""
    tensor = input_of(tiny.predictor.model.image_encoder, lambda: tiny.segment(solid_image(), SAMPLE_BOXES[:1]))
    assert tensor.shape == (1, 3, OFFLINE_IMAGE_SIZE, OFFLINE_IMAGE_SIZE)  # stretched to a square, no padding
    mean = np.array([0.485, 0.456, 0.406])[:, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None]
    pixels = (tensor[0].numpy() * std + mean) * 255
    np.testing.assert_allclose(pixels.mean(axis=(1, 2)), RED, atol=1.0)


def test_settings_say_what_ran(tiny):
    settings = tiny.settings()
    assert settings["config"] == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert settings["checkpoint"] == "sam2.1_hiera_tiny.pt"
    assert settings["device"] == "cpu" and settings["dtype"] == "float32" and settings["tf32"] is False
    assert settings["multimask_output"] is False and settings["image_size"] == OFFLINE_IMAGE_SIZE
    assert settings["implementation"].startswith("sam2 1.")
    assert "stretch" in settings["resize"]


def test_matches_sam2_image_predictor_at_the_official_size(tmp_path):
    """At the config's own 1024 input, segkit's answer is SAM2ImagePredictor's, best-of-3 included."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    image, boxes = sample_image(2), SAMPLE_BOXES
    with offline_segmenter("sam2-tiny", tmp_path, image_size=1024, multimask_output=True) as segmenter:
        segmenter.load()
        ours = segmenter.segment(image, boxes)
        predictor = SAM2ImagePredictor(segmenter.predictor.model)  # the same weights, sam2's own wrapper
        predictor.set_image(image)
        masks, scores, _ = predictor.predict(box=boxes, multimask_output=True)
    assert masks.shape == (3, 3, 120, 160)
    best = scores.argmax(axis=1)
    np.testing.assert_array_equal(ours.masks, masks[np.arange(3), best] > 0)
    np.testing.assert_allclose(ours.scores, scores[np.arange(3), best], rtol=1e-6)


def test_bfloat16_autocast_runs_when_asked(tmp_path):
    with offline_segmenter("sam2-tiny", tmp_path, image_size=128, dtype="bfloat16") as segmenter:
        segmenter.load()
        result = segmenter.segment(sample_image(), SAMPLE_BOXES)
        assert segmenter.settings()["dtype"] == "bfloat16"
    assert result.masks.shape == (3, 120, 160) and result.masks.dtype == np.bool_
    assert np.all(np.isfinite(result.scores))


def test_a_checkpoint_anywhere_by_option(tmp_path):
    from segkit_sam2 import Sam2Options, Sam2Segmenter

    path = random_checkpoint("tiny", tmp_path / "elsewhere", name="my-tiny.pt")
    segmenter = Sam2Segmenter("sam2-tiny", Sam2Options(checkpoint_tiny=path, checkpoint_dir=tmp_path / "empty"), size="tiny")
    readiness = segmenter.check_ready()
    assert readiness.ready and str(path) in readiness.reason
    assert segmenter.settings()["checkpoint"] == "my-tiny.pt"
