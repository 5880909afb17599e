"""The sam3 backend on SAM 3 built by sam3's own builder with random weights, loaded from a checkpoint file
in the official layout (the reduced size of ``segkit_sam3.testing``; the full size is test_sam3_full_size)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segkit.testing import SAMPLE_BOXES, SegmenterContract, backend_entry, sample_image
from segkit_sam3 import Sam3Options, Sam3Segmenter
from segkit_sam3.testing import REDUCED_IMAGE_SIZE, offline_segmenter, random_checkpoint
from segkit_torch.testing import RED, input_of, loaded, solid_image


class TestContract(SegmenterContract):
    backend = "sam3"
    options = {"batch_size": 2}


@pytest.fixture(scope="module")
def sam3(tmp_path_factory):
    """The reduced SAM 3, loaded once for the tests that only segment."""
    yield from loaded(offline_segmenter("sam3", tmp_path_factory.mktemp("sam3")))


def direct(model, image, boxes, multimask_output):
    """What a user gets from sam3 itself, as its sam3_for_sam1_task_example notebook calls it."""
    from sam3.model.sam3_image_processor import Sam3Processor

    processor = Sam3Processor(model, resolution=REDUCED_IMAGE_SIZE, device="cpu")
    state = processor.set_image(Image.fromarray(image))
    return model.predict_inst(state, point_coords=None, point_labels=None, box=boxes, multimask_output=multimask_output)


def test_the_backend_is_registered():
    entry = backend_entry("sam3")
    assert entry.plugin == "sam3" and entry.cls is Sam3Segmenter
    assert entry.description == "Meta SAM 3, one mask per box through predict_inst (sam3.pt)"


@pytest.mark.parametrize("multimask_output", [False, True])
def test_same_answer_as_predict_inst_called_directly(sam3, multimask_output):
    image, boxes = sample_image(2), SAMPLE_BOXES
    sam3.options = sam3.options.model_copy(update={"multimask_output": multimask_output})
    try:
        ours = sam3.segment(image, boxes)
    finally:
        sam3.options = sam3.options.model_copy(update={"multimask_output": False})
    masks, scores, _ = direct(sam3.model, image, boxes, multimask_output)
    candidates = 3 if multimask_output else 1
    assert masks.shape == (3, candidates, 120, 160) and scores.shape == (3, candidates)
    best = scores.argmax(axis=1)
    np.testing.assert_array_equal(ours.masks, masks[np.arange(3), best] > 0)
    np.testing.assert_allclose(ours.scores, scores[np.arange(3), best], rtol=1e-6)


def test_the_model_receives_the_rgb_pixels_it_was_given(sam3):
    """sam3 takes RGB: a red image must reach the ViT red, stretched to a square, normalised to [-1, 1]."""
    tensor = input_of(sam3.model.backbone.vision_backbone.trunk, lambda: sam3.segment(solid_image(), SAMPLE_BOXES[:1]))
    assert tensor.shape == (1, 3, REDUCED_IMAGE_SIZE, REDUCED_IMAGE_SIZE)
    pixels = (tensor[0].numpy() * 0.5 + 0.5) * 255
    np.testing.assert_allclose(pixels.mean(axis=(1, 2)), RED, atol=1.0)


def test_settings_say_what_ran(sam3):
    settings = sam3.settings()
    assert settings["implementation"].startswith("sam3 0.") and "predict_inst" in settings["implementation"]
    assert settings["checkpoint"] == "sam3.pt"
    assert (settings["device"], settings["dtype"], settings["tf32"]) == ("cpu", "float32", False)
    assert settings["resolution"] == REDUCED_IMAGE_SIZE and settings["resize"].startswith("stretch")
    assert settings["multimask_output"] is False and "dynamic multimask" in settings["mask_choice"]
    assert (settings["mask_threshold"], settings["max_hole_area"], settings["batch_size"]) == (0.0, 256.0, 1)


def test_precision_threshold_and_hole_filling_options_reach_sam3(tmp_path):
    with offline_segmenter("sam3", tmp_path, dtype="bfloat16", mask_threshold=0.5, max_hole_area=0, batch_size=2) as segmenter:
        segmenter.load()
        predictor = segmenter.model.inst_interactive_predictor
        assert (predictor.mask_threshold, predictor._transforms.mask_threshold, predictor._transforms.max_hole_area) == (0.5, 0.5, 0)
        assert segmenter.batch_size == 2
        result = segmenter.segment(sample_image(), SAMPLE_BOXES)
        settings = segmenter.settings()
    assert result.masks.shape == (3, 120, 160) and result.masks.dtype == np.bool_
    assert np.all(np.isfinite(result.scores))
    assert (settings["dtype"], settings["mask_threshold"], settings["max_hole_area"], settings["batch_size"]) == ("bfloat16", 0.5, 0, 2)


def test_a_checkpoint_anywhere_by_option(tmp_path):
    path = random_checkpoint(tmp_path / "elsewhere", name="my-sam3.pt")
    segmenter = Sam3Segmenter("sam3", Sam3Options(checkpoint=path))
    readiness = segmenter.check_ready()
    assert readiness.ready and str(path) in readiness.reason
    assert segmenter.settings()["checkpoint"] == "my-sam3.pt"
