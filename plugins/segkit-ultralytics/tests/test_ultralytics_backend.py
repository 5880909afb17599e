"""The ultralytics-sam2.1-* backends on Ultralytics' SAM 2.1 architectures with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segkit.testing import SAMPLE_BOXES, SegmenterContract, backend_entry, registered_backends, sample_image
from segkit_torch.testing import RED, input_of, loaded, solid_image
from segkit_ultralytics.backend import UltralyticsOptions, UltralyticsSam2Segmenter, by_prompt
from segkit_ultralytics.models import MODELS
from segkit_ultralytics.testing import OFFLINE_IMGSZ, offline_segmenter, random_weights


ULTRALYTICS_MEAN = np.array([123.675, 116.28, 103.53])[:, None, None]
ULTRALYTICS_STD = np.array([58.395, 57.12, 57.375])[:, None, None]


class TestContract(SegmenterContract):
    backend = "ultralytics-sam2.1-t"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    yield from loaded(offline_segmenter("ultralytics-sam2.1-t", tmp_path_factory.mktemp("t")))


def unsure_weights(folder):
    """Tiny weights whose quality head says 'unsure' for every mask: every score sigmoid(-6) ~ 0.0025."""
    state = torch.load(random_weights("t", folder / "source"), map_location="cpu", weights_only=True)["model"]
    head = "sam_mask_decoder.iou_prediction_head.layers.2"
    state[f"{head}.weight"].zero_()
    state[f"{head}.bias"].fill_(-6.0)
    path = folder / "sam2.1_t.pt"
    torch.save({"model": state}, path)
    return path


def test_the_five_models_and_the_concept_backend_are_registered():
    registered = {name: entry.params for name, entry in registered_backends("ultralytics").items()}
    assert registered == {**{m.backend: {"size": m.key} for m in MODELS.values()}, "ultralytics-sam3": {}, "ultralytics-sam3-concept": {}}
    assert backend_entry("ultralytics-sam2.1-b").description == "SAM 2.1 b+ through Ultralytics (sam2.1_b.pt)"


def test_the_model_receives_the_rgb_pixels_segkit_was_given(tiny):
    """Ultralytics reads numpy as BGR: the backend must flip segkit's RGB so that a red image reaches the
    image encoder red. The input is letterboxed: the image keeps its aspect ratio, grey (114) below it."""
    tensor = input_of(tiny.predictor.model.image_encoder, lambda: tiny.segment(solid_image(), SAMPLE_BOXES[:1]))
    assert tensor.shape == (1, 3, OFFLINE_IMGSZ, OFFLINE_IMGSZ)
    pixels = tensor[0].float().numpy() * ULTRALYTICS_STD + ULTRALYTICS_MEAN
    rows = round(90 * OFFLINE_IMGSZ / 120)  # 96 of 128 rows hold the image
    np.testing.assert_allclose(pixels[:, :rows].mean(axis=(1, 2)), RED, atol=1.0)
    np.testing.assert_allclose(pixels[:, rows:].mean(axis=(1, 2)), [114, 114, 114], atol=1.0)


def test_same_answer_as_ultralytics_own_call(tiny):
    """What a user gets from `SAM(weights)(image, bboxes=...)` with conf 0, from the same weights."""
    from ultralytics import SAM

    image, boxes = sample_image(5), SAMPLE_BOXES
    ours = tiny.segment(image, boxes)
    (result,) = SAM(str(tiny.weights))(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, conf=0.0, verbose=False)
    assert result.boxes.cls.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ours.masks, result.masks.data.numpy())
    np.testing.assert_allclose(ours.scores, result.boxes.conf.numpy(), rtol=1e-6)


def test_every_box_keeps_its_mask_when_ultralytics_is_unsure(tmp_path):
    """With Ultralytics' own default conf (0.25) these weights give no mask at all; segkit gives one per box."""
    from ultralytics import SAM

    path = unsure_weights(tmp_path)
    image, boxes = sample_image(6), SAMPLE_BOXES
    (dropped,) = SAM(str(path))(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, verbose=False)
    assert len(dropped.boxes) == 0 and len(dropped.masks) == 0  # the trap: every mask filtered out

    segmenter = UltralyticsSam2Segmenter("ultralytics-sam2.1-t", UltralyticsOptions(weights_t=path, device="cpu", imgsz=OFFLINE_IMGSZ), size="t")
    segmenter.load()
    ours = segmenter.segment(image, boxes)
    segmenter.close()
    assert ours.masks.shape == (3, 120, 160)
    np.testing.assert_allclose(ours.scores, 1 / (1 + np.exp(6.0)), rtol=1e-3)
    (kept,) = SAM(str(path))(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, conf=0.0, verbose=False)
    np.testing.assert_array_equal(ours.masks, kept.masks.data.numpy())


def test_masks_dropped_by_conf_are_mapped_back_by_prompt_index(tiny):
    """Ultralytics' Results with some masks filtered out: each kept mask lands on its own box, the others
    are empty with score 0, never shifted into a neighbour's place."""
    from ultralytics import SAM

    image, boxes = sample_image(7), SAMPLE_BOXES
    full = tiny.segment(image, boxes)
    best = int(full.scores.argmax())
    conf = float(np.sort(full.scores)[-2])  # keeps only the best-scoring box
    (result,) = SAM(str(tiny.weights))(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, conf=conf, verbose=False)
    assert result.boxes.cls.tolist() == [best]
    mapped = by_prompt(result.masks.data, result.boxes.data, 3, 120, 160)
    assert np.array_equal(mapped.masks[best], full.masks[best])
    assert mapped.scores[best] == pytest.approx(full.scores[best])
    for other in set(range(3)) - {best}:
        assert not mapped.masks[other].any() and mapped.scores[other] == 0.0
    nothing = by_prompt(None, torch.zeros((0, 6)), 3, 120, 160)
    assert nothing.masks.shape == (3, 120, 160) and not nothing.masks.any()


def test_settings_say_what_ran(tiny):
    settings = tiny.settings()
    assert settings["weights"] == "sam2.1_t.pt" and settings["imgsz"] == OFFLINE_IMGSZ
    assert settings["device"] == "cpu" and settings["half"] is False
    assert settings["resize"].startswith("letterbox")
    assert settings["implementation"].startswith("ultralytics 8.")


def test_half_is_not_used_on_cpu_and_threads_are_left_alone(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with offline_segmenter("ultralytics-sam2.1-t", tmp_path, half=True) as segmenter:
            segmenter.load()
            assert torch.get_num_threads() == 3  # Ultralytics' select_device('cpu') would set cpu_count - 1
            assert segmenter.settings()["half"] is False  # Ultralytics runs FP32 on CPU whatever is asked
            assert segmenter.segment(sample_image(), SAMPLE_BOXES).masks.shape == (3, 120, 160)
    finally:
        torch.set_num_threads(before)
