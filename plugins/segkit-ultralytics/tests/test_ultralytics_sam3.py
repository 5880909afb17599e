"""ultralytics-sam3 on Ultralytics' SAM 3 built with random weights (the reduced ViT of
``segkit_ultralytics.sam3_testing``), loaded from a file in the layout of Meta's sam3.pt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segkit import BackendNotReady
from segkit.testing import SAMPLE_BOXES, SegmenterContract, backend_entry, iou, sample_image
from segkit_torch.testing import RED, input_of, loaded, only_line, segment_without_network, solid_image
from segkit_torch import CheckpointError
from segkit_ultralytics.sam3 import UltralyticsSam3Options, UltralyticsSam3Segmenter
from segkit_ultralytics.sam3_testing import OFFLINE_IMGSZ, offline_env, offline_segmenter, random_weights, reduced

SAM3_MEAN_STD = 127.5  # SAM3Predictor normalises every channel with mean 127.5, std 127.5


class TestContract(SegmenterContract):
    backend = "ultralytics-sam3"


@pytest.fixture(scope="module")
def sam3(tmp_path_factory):
    yield from loaded(offline_segmenter("ultralytics-sam3", tmp_path_factory.mktemp("sam3")))


def segmenter(path, **options) -> UltralyticsSam3Segmenter:
    return UltralyticsSam3Segmenter("ultralytics-sam3", UltralyticsSam3Options(weights=path, device="cpu", imgsz=OFFLINE_IMGSZ, **options))


def test_registered_beside_the_sam2_1_backends():
    entry = backend_entry("ultralytics-sam3")
    assert entry.plugin == "ultralytics" and entry.cls is UltralyticsSam3Segmenter
    assert entry.description == "SAM 3, box prompts, through Ultralytics (sam3.pt)"


def test_the_file_s_weights_are_in_the_model(sam3):
    """Ultralytics loads with strict=False: check the loaded parameters are the file's, not random ones."""
    saved = torch.load(sam3.weights, map_location="cpu", weights_only=True, mmap=True)
    model = sam3.predictor.model
    pairs = {
        "image_encoder.vision_backbone.trunk.blocks.1.attn.qkv.weight": "detector.backbone.vision_backbone.trunk.blocks.1.attn.qkv.weight",
        "image_encoder.vision_backbone.sam2_convs.0.conv_3x3.weight": "detector.backbone.vision_backbone.sam2_convs.0.conv_3x3.weight",
        "sam_mask_decoder.iou_token.weight": "tracker.sam_mask_decoder.iou_token.weight",
        "sam_prompt_encoder.point_embeddings.2.weight": "tracker.sam_prompt_encoder.point_embeddings.2.weight",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(model.get_parameter(ours), saved[theirs]), ours


def test_same_answer_as_ultralytics_own_call(sam3):
    """What a user gets from `SAM("sam3.pt")(image, bboxes=..., imgsz=..., conf=0)`, from the same weights."""
    from ultralytics import SAM

    image, boxes = sample_image(5), SAMPLE_BOXES
    ours = sam3.segment(image, boxes)
    with reduced():
        model = SAM(str(sam3.weights))
    (result,) = model(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, conf=0.0, verbose=False)
    assert result.boxes.cls.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ours.masks, result.masks.data.numpy())
    np.testing.assert_allclose(ours.scores, result.boxes.conf.numpy(), rtol=1e-6)


def test_the_model_receives_the_rgb_pixels_segkit_was_given(sam3):
    """Ultralytics reads numpy as BGR: a red image must reach the ViT red, letterboxed with grey 114 below."""
    tensor = input_of(sam3.predictor.model.image_encoder.vision_backbone.trunk, lambda: sam3.segment(solid_image(), SAMPLE_BOXES[:1]))
    assert tensor.shape == (1, 3, OFFLINE_IMGSZ, OFFLINE_IMGSZ)
    pixels = tensor[0].float().numpy() * SAM3_MEAN_STD + SAM3_MEAN_STD
    rows = round(90 * OFFLINE_IMGSZ / 120)  # 252 of 336 rows hold the image
    np.testing.assert_allclose(pixels[:, :rows].mean(axis=(1, 2)), RED, atol=1.0)
    np.testing.assert_allclose(pixels[:, rows:].mean(axis=(1, 2)), [114, 114, 114], atol=1.0)


def test_settings_say_what_ran(sam3):
    settings = sam3.settings()
    assert settings["weights"] == "sam3.pt" and settings["imgsz"] == OFFLINE_IMGSZ
    assert settings["device"] == "cpu" and settings["half"] is False and settings["resize"].startswith("letterbox")
    assert settings["implementation"].startswith("ultralytics 8.") and "SAM3Predictor" in settings["implementation"]


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path):
    readiness = segmenter(tmp_path / "sam3.pt").check_ready()
    reason = only_line(readiness.reason)
    assert not readiness.ready and f"weights {tmp_path / 'sam3.pt'} not found" in reason
    assert "https://huggingface.co/facebook/sam3" in reason and "ultralytics_sam3.weights=PATH" in reason
    with pytest.raises(BackendNotReady, match="not found"):
        segmenter(tmp_path / "sam3.pt").load()


def test_a_name_that_would_build_another_model_is_refused(tmp_path):
    for name in ("sam3_weights.pt", "sam2-to-sam3.pt", "sam.pt"):
        (tmp_path / name).write_bytes(b"x")
        reason = segmenter(tmp_path / name).check_ready().reason
        assert f"{name!r} does not say SAM 3 alone; name the file sam3.pt" in only_line(reason)
    assert segmenter(random_weights(tmp_path, name="2025-sam3.pt")).check_ready().ready


def test_sam2_weights_named_sam3_pt(tmp_path):
    path = random_weights_sam2(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        segmenter(path).load()
    assert "holds SAM 2.1 tiny weights, not SAM 3; use Meta's sam3.pt" in only_line(str(caught.value))


def random_weights_sam2(folder):
    from segkit_ultralytics.testing import random_weights as sam2_weights

    return sam2_weights("t", folder, name="sam3.pt")


def test_a_file_that_is_no_checkpoint_is_not_ready(tmp_path):
    (tmp_path / "sam3.pt").write_text("<html>gated</html>")
    reason = only_line(segmenter(tmp_path / "sam3.pt").check_ready().reason)
    assert reason.startswith(f"weights {tmp_path / 'sam3.pt'} is not a PyTorch checkpoint")


def test_sam3_weights_without_the_tracker(tmp_path):
    state = torch.load(random_weights(tmp_path / "good"), map_location="cpu", weights_only=True, mmap=True)
    torch.save({k: v for k, v in state.items() if k.startswith("detector.")}, tmp_path / "sam3.pt")
    with pytest.raises(CheckpointError) as caught:
        segmenter(tmp_path / "sam3.pt").load()
    assert "holds SAM 3 detector weights without the tracker" in only_line(str(caught.value))


def test_bad_option_values_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="multiple of 14"):
        UltralyticsSam3Options(imgsz=1024)


def test_through_the_cli(segkit_cli, tmp_path):
    path = random_weights(tmp_path / "checkpoints")
    with reduced():
        result = segkit_cli.run("ultralytics-sam3", env=offline_env(path))
    for record in segkit_cli.assert_outputs(result, ["ultralytics-sam3"]):
        settings = record["backends"]["ultralytics-sam3"]["settings"]
        assert (settings["weights"], settings["imgsz"], settings["half"]) == ("sam3.pt", OFFLINE_IMGSZ, False)


def test_every_box_keeps_its_mask_when_ultralytics_is_unsure(tmp_path):
    """Weights whose quality head says 'unsure' (every score sigmoid(-6) ~ 0.0025): Ultralytics' own default
    conf (0.25) returns no mask at all; segkit returns one per box, in place, with its low score."""
    from ultralytics import SAM

    state = torch.load(random_weights(tmp_path / "source"), map_location="cpu", weights_only=True)
    head = "tracker.sam_mask_decoder.iou_prediction_head.layers.2"
    state[f"{head}.weight"].zero_()
    state[f"{head}.bias"].fill_(-6.0)
    path = tmp_path / "sam3.pt"
    torch.save(state, path)
    image, boxes = sample_image(6), SAMPLE_BOXES
    with reduced():
        (dropped,) = SAM(str(path))(image[..., ::-1].copy(), bboxes=boxes, imgsz=OFFLINE_IMGSZ, verbose=False)
        ours = segmenter(path)
        ours.load()
    assert len(dropped.boxes) == 0  # the trap: every mask filtered out
    result = ours.segment(image, boxes)
    ours.close()
    assert result.masks.shape == (3, 120, 160) and result.masks.any(axis=(1, 2)).all()
    np.testing.assert_allclose(result.scores, 1 / (1 + np.exp(6.0)), rtol=1e-3)


def test_loading_and_segmenting_make_no_network_attempt(tmp_path):
    """A fresh process with every socket lookup and connection refused and recorded, YOLO_OFFLINE unset (the
    backend's own default must keep Ultralytics offline)."""
    path = random_weights(tmp_path)
    report = segment_without_network(
        f"""
        from segkit_ultralytics.sam3 import UltralyticsSam3Options, UltralyticsSam3Segmenter
        from segkit_ultralytics.sam3_testing import OFFLINE_IMGSZ, reduced
        stack.enter_context(reduced())
        segmenter = UltralyticsSam3Segmenter("ultralytics-sam3", UltralyticsSam3Options(weights={str(path)!r}, device="cpu", imgsz=OFFLINE_IMGSZ))
        """,
        unset=["YOLO_OFFLINE"],
    )
    assert report == {"attempts": [], "masks": [3, 120, 160]}



def test_the_same_sam3_file_through_meta_and_ultralytics(segkit_cli, tmp_path):
    """Meta's sam3.pt layout read by both implementations: on a square image at the model's own input size
    (no resize in either, so stretch and letterbox agree) they compute the same network, and segkit runs
    both on the same boxes. Meta's hole filling is switched off: Ultralytics has none."""
    import segkit_sam3.testing as meta

    folder = tmp_path / "checkpoints"
    path = meta.random_checkpoint(folder)  # Meta's reduced SAM 3: the same trunk as reduced() here
    image = sample_image(7, (OFFLINE_IMGSZ, OFFLINE_IMGSZ))
    boxes = SAMPLE_BOXES * np.float32(OFFLINE_IMGSZ / 160)
    with meta.reduced(), reduced():
        ours = segmenter(path)
        theirs = meta.Sam3Segmenter("sam3", meta.Sam3Options(checkpoint=path, device="cpu", max_hole_area=0))
        ours.load()
        theirs.load()
        a, b = ours.segment(image, boxes), theirs.segment(image, boxes)
        ours.close()
        theirs.close()
        assert all(iou(x, y) > 0.98 for x, y in zip(a.masks, b.masks)), [iou(x, y) for x, y in zip(a.masks, b.masks)]
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)

        env = {**offline_env(path), **meta.offline_env(path)}
        result = segkit_cli.run("sam3", "ultralytics-sam3", env=env)
    for record in segkit_cli.assert_outputs(result, ["sam3", "ultralytics-sam3"]):
        assert record["backends"]["sam3"]["settings"]["resize"].startswith("stretch")
        assert record["backends"]["ultralytics-sam3"]["settings"]["resize"].startswith("letterbox")
        for det in record["detections"]:
            assert 0.0 <= det["iou"]["sam3 vs ultralytics-sam3"] <= 1.0
