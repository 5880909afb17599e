"""The hf-* backends on transformers' real architectures with random weights, loaded from folders saved in
the Hub's layout, against transformers called directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segkit.testing import SegmenterContract, backend_entry, registered_backends, sample_batch
from segkit_transformers.models import MODELS
from segkit_transformers.testing import OFFLINE_IMAGE_SIZE, offline_segmenter
from segkit_torch.testing import assert_same_answers, loaded


# Images of different sizes in one batch (segkit.testing.sample_batch), with 3, 1, 2 and 1 boxes.
IMAGES, IMAGE_BOXES = sample_batch()


class TestSam2Contract(SegmenterContract):
    backend = "hf-sam2.1-tiny"
    options = {"batch_size": 4}


class TestSam3Contract(TestSam2Contract):
    backend = "hf-sam3"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    yield from loaded(offline_segmenter("hf-sam2.1-tiny", tmp_path_factory.mktemp("tiny"), batch_size=4))


@pytest.fixture(scope="module")
def sam3(tmp_path_factory):
    yield from loaded(offline_segmenter("hf-sam3", tmp_path_factory.mktemp("sam3"), batch_size=2))


def direct(model, processor, image: np.ndarray, boxes: np.ndarray, multimask: bool):
    """What a transformers user writes: processor, model forward, post_process_masks; the best candidate."""
    inputs = processor(images=image, input_boxes=[boxes.tolist()], return_tensors="pt")
    with torch.inference_mode():
        output = model(**inputs, multimask_output=multimask)
    (masks,) = processor.post_process_masks(output.pred_masks, inputs["original_sizes"])
    scores = output.iou_scores[0]
    best = scores.argmax(dim=1)
    rows = torch.arange(len(boxes))
    return masks[rows, best].numpy(), scores[rows, best].numpy()


def encoder_batches(network, monkeypatch) -> list[int]:
    """The number of images of every ``get_image_embeddings`` call from now on (the real method still runs)."""
    seen: list[int] = []
    real = network.get_image_embeddings

    def spy(pixel_values, *args, **kwargs):
        seen.append(len(pixel_values))
        return real(pixel_values, *args, **kwargs)

    monkeypatch.setattr(network, "get_image_embeddings", spy)
    return seen


def test_the_five_models_and_the_concept_backend_are_registered():
    registered = registered_backends("transformers")
    expected = {m.backend: {"key": m.key} for m in MODELS.values()} | {"hf-sam3-concept": {"key": "sam3"}}
    assert {name: entry.params for name, entry in registered.items()} == expected
    assert backend_entry("hf-sam2.1-large").description == "SAM 2.1 hiera large through Hugging Face transformers (facebook/sam2.1-hiera-large)"
    assert backend_entry("hf-sam3").description == "SAM 3 through Hugging Face transformers (facebook/sam3)"


@pytest.fixture(scope="module")
def users_own(tiny):
    """The tiny folder loaded again as a transformers user would, apart from segkit."""
    from transformers import Sam2Model, Sam2Processor

    return Sam2Model.from_pretrained(tiny.folder).eval(), Sam2Processor.from_pretrained(tiny.folder)


@pytest.mark.parametrize("multimask", [False, True])
def test_same_masks_as_transformers_called_directly(tiny, users_own, multimask, monkeypatch):
    """The same image and boxes (one box, and three): segkit's masks and scores are transformers' own, the
    best of 3 included."""
    monkeypatch.setattr(tiny, "options", tiny.options.model_copy(update={"multimask_output": multimask}))
    for image, boxes in ((IMAGES[1], IMAGE_BOXES[1]), (IMAGES[0], IMAGE_BOXES[0])):
        ours = tiny.segment(image, boxes)
        masks, scores = direct(*users_own, image, boxes, multimask)
        np.testing.assert_array_equal(ours.masks, masks)
        np.testing.assert_allclose(ours.scores, scores, rtol=1e-5)


def test_sam3_uses_every_tracker_weight_of_the_checkpoint_and_matches_a_direct_call(sam3):
    """facebook/sam3 holds the detector and the tracker; the tracker's mask decoder and prompt encoder are
    stored under tracker_model.*, its image encoder is the detector's backbone and the tracker's own neck."""
    from safetensors.torch import load_file

    stored = load_file(sam3.folder / "model.safetensors")
    loaded = sam3.network.state_dict()
    pairs = {
        "mask_decoder.iou_token.weight": "tracker_model.mask_decoder.iou_token.weight",  # facebook/sam3's names
        "prompt_encoder.point_embed.weight": "tracker_model.prompt_encoder.point_embed.weight",
        "vision_encoder.backbone.embeddings.patch_embeddings.projection.weight": "detector_model.vision_encoder.backbone.embeddings.patch_embeddings.projection.weight",
        "vision_encoder.neck.fpn_layers.0.proj1.weight": "tracker_neck.fpn_layers.0.proj1.weight",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(loaded[ours], stored[theirs]), ours
    masks, scores = direct(sam3.network, sam3.processor, IMAGES[0], IMAGE_BOXES[0], False)
    ours = sam3.segment(IMAGES[0], IMAGE_BOXES[0])
    np.testing.assert_array_equal(ours.masks, masks)
    np.testing.assert_allclose(ours.scores, scores, rtol=1e-5)


def test_batched_masks_equal_one_by_one_masks(tiny, monkeypatch):
    one_by_one = [tiny.segment(image, boxes) for image, boxes in zip(IMAGES, IMAGE_BOXES)]
    encoded = encoder_batches(tiny.network, monkeypatch)
    batched = tiny.segment_batch(IMAGES, IMAGE_BOXES)
    assert encoded == [4]
    assert_same_answers(batched, one_by_one)
    assert [r.masks.shape for r in batched] == [(3, 120, 160), (1, 150, 200), (2, 131, 97), (1, 64, 240)]


def test_sam3_batches_too(sam3, monkeypatch):
    one_by_one = [sam3.segment(image, boxes) for image, boxes in zip(IMAGES[1:], IMAGE_BOXES[1:])]
    encoded = encoder_batches(sam3.network, monkeypatch)
    assert_same_answers(sam3.segment_batch(IMAGES[1:], IMAGE_BOXES[1:]), one_by_one)
    assert encoded == [2, 1]  # batch_size 2


def test_a_failing_batch_leaves_the_backend_ready_for_one_image_at_a_time(tiny):
    expected = [tiny.segment(image, boxes) for image, boxes in zip(IMAGES[:2], IMAGE_BOXES[:2])]
    with pytest.raises((ValueError, RuntimeError)):  # boxes of three numbers: the processor cannot take them
        tiny.segment_batch([IMAGES[0], IMAGES[2], IMAGES[1]], [IMAGE_BOXES[0], np.zeros((1, 3), np.float32), IMAGE_BOXES[1]])
    assert_same_answers([tiny.segment(image, boxes) for image, boxes in zip(IMAGES[:2], IMAGE_BOXES[:2])], expected)


def test_settings_say_what_ran(tiny, sam3):
    settings = tiny.settings()
    assert settings["implementation"].startswith("transformers 5.") and "Sam2Model + Sam2Processor" in settings["implementation"]
    assert settings["model"] == "SAM 2.1 hiera tiny" and settings["source"] == "sam2.1-hiera-tiny"
    assert (settings["device"], settings["dtype"], settings["tf32"]) == ("cpu", "float32", False)
    assert settings["multimask_output"] is False and settings["mask_threshold"] == 0.0
    size = OFFLINE_IMAGE_SIZE["SAM 2.1"]
    assert settings["image_size"] == f"{size}x{size}" and settings["resize"].startswith("stretch")
    assert settings["batch_size"] == 4
    assert "Sam3TrackerModel" in sam3.settings()["implementation"] and sam3.settings()["model"] == "SAM 3"


def test_bfloat16_autocast_runs_when_asked(tiny, monkeypatch):
    monkeypatch.setattr(tiny, "dtype", torch.bfloat16)  # what dtype=bfloat16 (or auto on CUDA) resolves to at load
    result = tiny.segment(IMAGES[0], IMAGE_BOXES[0])
    assert tiny.settings()["dtype"] == "bfloat16"
    assert result.masks.shape == (3, 120, 160) and result.masks.dtype == np.bool_
    assert np.all(np.isfinite(result.scores))


def test_the_image_models_own_layout_loads_too(tmp_path):
    """A folder saved from Sam2Model itself (model_type sam2, as some converted copies are) works the same."""
    from segkit_transformers import TransformersOptions, TransformersSegmenter
    from segkit_transformers.testing import random_model_folder

    folder = random_model_folder("hf-sam2.1-tiny", tmp_path, layout="image")
    segmenter = TransformersSegmenter("hf-sam2.1-tiny", TransformersOptions(folder_tiny=folder, device="cpu"), key="tiny")
    assert '"model_type": "sam2"' in (folder / "config.json").read_text()
    segmenter.load()
    try:
        assert segmenter.segment(IMAGES[0], IMAGE_BOXES[0]).masks.shape == (3, 120, 160)
    finally:
        segmenter.close()


def test_a_sam3_folder_saved_by_transformers_own_save_pretrained_loads_every_weight(tmp_path):
    """Sam3VideoModel.save_pretrained (transformers 5.23) doubles the tracker_model. prefix; loaded plainly,
    Sam3TrackerModel would keep its mask decoder random. segkit loads it whole, with the same answers."""
    from segkit_transformers import TransformersOptions, TransformersSegmenter
    from segkit_transformers.testing import random_model_folder
    from safetensors.torch import load_file

    folder = random_model_folder("hf-sam3", tmp_path, layout="save_pretrained")
    assert "tracker_model.tracker_model.mask_decoder.iou_token.weight" in load_file(folder / "model.safetensors")
    segmenter = TransformersSegmenter("hf-sam3", TransformersOptions(folder_sam3=folder, device="cpu"), key="sam3")
    segmenter.load()
    try:
        stored = load_file(folder / "model.safetensors")["tracker_model.tracker_model.mask_decoder.iou_token.weight"]
        assert torch.equal(segmenter.network.state_dict()["mask_decoder.iou_token.weight"], stored)
    finally:
        segmenter.close()
