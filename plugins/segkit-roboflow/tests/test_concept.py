"""roboflow-sam3-concept against the loopback server's /sam3/concept_segment: the concept contract, the
prompts as the API wants them (top-left exemplar boxes, box_labels), RLE and polygon answers, the
server-side threshold and NMS, more than 16 concepts split over requests, errors in one line, a CLI run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import requests
from segkit_http.testing import DripServer, assert_no_secret, closed_port, fast_flags
from segkit_roboflow.testing import (
    CONCEPT_PATH,
    Fault,
    blob_confidence,
    colour_blobs,
)

import segkit
from segkit import BackendFatalError, Concept, ConfigError, ImageFailed
from segkit.testing import (
    SAMPLE_BOXES,
    ConceptSegmenterContract,
    read_mask,
    sample_image,
    sample_masks,
)

NAME = "roboflow-sam3-concept"
DISC, RECT, ELLIPSE = sample_masks()  # red, green, blue on sample_image()


class TestContract(ConceptSegmenterContract):
    backend = NAME


@pytest.fixture
def concept(make_segmenter):
    return lambda **options: make_segmenter(NAME, **options)


def shapes_image() -> np.ndarray:
    """Three red shapes on grey: a square (confidence 0.95), a disc (~0.82) and a right triangle (~0.65)."""
    image = np.full((90, 200, 3), 70, np.uint8)
    cv2.rectangle(image, (10, 20), (49, 59), (230, 30, 30), -1)
    cv2.circle(image, (100, 40), 22, (230, 30, 30), -1)
    cv2.fillPoly(image, [np.array([[150, 10], [190, 10], [150, 70]], np.int32)], (230, 30, 30))
    return image


def test_phrases_find_every_blob_of_their_colour_with_boxes_from_the_masks(server, concept):
    image = sample_image()
    found = concept().segment_concepts(image, [Concept(text="person"), Concept(text="red car"), Concept(text="shapes")])
    assert found.concepts.tolist() == [1, 2, 2, 2]  # nobody; the disc; the disc, the rectangle, the ellipse
    for mask, truth in zip(found.masks, [DISC, DISC, RECT, ELLIPSE]):
        assert (mask & truth).sum() / (mask | truth).sum() > 0.97
    ys, xs = np.nonzero(found.masks[2])
    assert found.boxes[2].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # the mask's extent
    assert found.scores.tolist() == [blob_confidence(m) for m in found.masks]
    assert found.info["requests"] == 1 and found.info["server_time_s"] >= 0
    (seen,) = server.seen()
    assert seen.path == CONCEPT_PATH and seen.headers["User-Agent"].startswith("python-requests/")  # the SDK's request
    assert seen.payload["prompts"] == [{"type": "text", "text": "person"}, {"type": "text", "text": "red car"},
                                       {"type": "text", "text": "shapes"}]
    assert (seen.model_id, seen.format, seen.output_prob_thresh) == ("sam3/sam3_final", "rle", 0.5)
    assert "nms_iou_threshold" not in seen.payload


def test_exemplar_boxes_travel_top_left_with_their_labels(server, concept):
    image = sample_image()
    server.expected_boxes = SAMPLE_BOXES.astype(np.float64)  # the server refuses boxes it cannot read top-left
    exemplars = [Concept(boxes=(tuple(SAMPLE_BOXES[0]),)),
                 Concept(text="shape", boxes=(tuple(SAMPLE_BOXES[1]), tuple(SAMPLE_BOXES[2])), negative=(False, True))]
    found = concept().segment_concepts(image, exemplars)
    assert server.problems == []
    (seen,) = server.seen()
    assert seen.payload["prompts"] == [
        {"type": "visual", "boxes": [{"x": 10.0, "y": 12.0, "width": 52.0, "height": 58.0}], "box_labels": [1]},
        {"type": "visual", "text": "shape", "boxes": [{"x": 80.0, "y": 20.0, "width": 70.0, "height": 40.0},
                                                       {"x": 40.0, "y": 76.0, "width": 80.0, "height": 36.0}],
         "box_labels": [1, 0]}]
    # the disc's exemplar finds the red disc; "shape" finds all three, less the ellipse its negative box covers
    assert found.concepts.tolist() == [0, 1, 1]
    assert [np.array_equal(m, b) for m, b in zip(found.masks, [DISC, DISC, RECT])] == [True, True, True]


def test_rle_and_polygon_answers_give_the_same_masks(server, concept):
    image = shapes_image()
    as_rle = concept(format="rle").segment_concepts(image, [Concept(text="red")])
    as_polygon = concept(format="polygon").segment_concepts(image, [Concept(text="red")])
    assert [s.format for s in server.seen()] == ["rle", "polygon"]
    assert len(as_rle.masks) == 3 and np.array_equal(as_rle.masks, as_polygon.masks)
    assert np.array_equal(as_rle.scores, as_polygon.scores) and np.array_equal(as_rle.boxes, as_polygon.boxes)
    assert np.array_equal(as_rle.masks, np.stack([m for _, m in colour_blobs(image)]))  # RLE is exact


@pytest.mark.parametrize("threshold, kept", [(0.5, 3), (0.7, 2), (0.9, 1), (0.99, 0)])
def test_the_servers_threshold_is_output_prob_thresh(server, concept, threshold, kept):
    found = concept(output_prob_thresh=threshold).segment_concepts(shapes_image(), [Concept(text="red")])
    assert server.seen()[0].output_prob_thresh == threshold
    assert len(found.masks) == kept and np.all(found.scores > threshold)
    assert found.masks.shape[1:] == (90, 200)


def test_nms_across_concepts_when_nms_iou_threshold_is_set(server, concept):
    concepts = [Concept(text="red"), Concept(text="red car"), Concept(text="green")]
    plain = concept().segment_concepts(sample_image(), concepts)
    assert plain.concepts.tolist() == [0, 1, 2]  # the disc twice: once per phrase
    nms = concept(nms_iou_threshold=0.5).segment_concepts(sample_image(), concepts)
    assert nms.concepts.tolist() == [0, 2]  # the second phrase's disc overlaps the first's: dropped
    assert [s.payload.get("nms_iou_threshold") for s in server.seen()] == [None, 0.5]
    settings = concept(nms_iou_threshold=0.5).settings()
    assert (settings["nms_iou_threshold"], settings["output_prob_thresh"], settings["model_id"]) == (0.5, 0.5, "sam3/sam3_final")


def test_twenty_concepts_are_two_requests_joined_in_order(server, concept):
    phrases = ["person"] * 20
    phrases[3], phrases[17], phrases[19] = "red", "green rectangle", "blue"
    found = concept().segment_concepts(sample_image(), [Concept(text=p) for p in phrases])
    assert [len(s.prompts) for s in server.seen()] == [16, 4]
    assert [p["text"] for s in server.seen() for p in s.prompts] == phrases
    assert found.concepts.tolist() == [3, 17, 19] and found.info["requests"] == 2
    assert [np.array_equal(m, t) for m, t in zip(found.masks, [DISC, RECT, ELLIPSE])] == [True, True, True]
    assert found.masks.dtype == bool and found.boxes.shape == (3, 4) and found.scores.shape == (3,)


def test_the_server_refuses_more_than_16_prompts_like_the_api(server):
    body = {"api_key": server.api_key, "image": {"type": "base64", "value": ""},
            "prompts": [{"type": "text", "text": "red"}] * 17}
    answer = requests.post(server.url + CONCEPT_PATH, json=body, timeout=5)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "prompts"] and error["type"] == "too_long"


def test_a_concept_with_nothing_to_find_fails_the_image(concept):
    with pytest.raises(ImageFailed, match=r"^/sam3/concept_segment: concept 0 \('exemplar'\) has neither a phrase nor exemplar boxes$"):
        concept().segment_concepts(sample_image(), [Concept()])


def test_a_wrong_key_ends_the_run_in_one_line_without_the_key(server, concept):
    with pytest.raises(BackendFatalError) as caught:
        concept(api_key="rf_wrong_key_0123456789").segment_concepts(sample_image(), [Concept(text="red")])
    message = str(caught.value)
    assert message.startswith(f"{NAME}: {server.url} refused the API key (HTTP 401 Unauthorized") and "\n" not in message
    assert "ROBOFLOW_API_KEY" in message
    assert_no_secret("rf_wrong_key_0123456789", message)


def test_retries_and_the_deadline_are_segkit_https(server, concept):
    server.inject(Fault(status=429, retry_after=0), Fault(status=503))
    assert len(concept().segment_concepts(sample_image(), [Concept(text="red")]).masks) == 1
    assert [s.status for s in server.seen()] == [429, 503, 200]
    with DripServer(interval=0.05) as drip:
        slow = segkit.get_backend(NAME, api_url=drip.origin, api_key="rf_drip_0123456789", timeout=0.4, max_tries=1)
        with pytest.raises(ImageFailed, match=r"/sam3/concept_segment failed after 1 try: did not answer within 0.4 s"):
            slow.segment_concepts(sample_image(), [Concept(text="red")])
        slow.close()


def test_no_server_is_one_line_at_load():
    port = closed_port()
    with pytest.raises(ConfigError) as caught:
        segkit.get_backend(NAME, api_url=f"http://127.0.0.1:{port}", api_key="rf_key_0123456789")
    assert str(caught.value) == (f"{NAME}: cannot connect to http://127.0.0.1:{port} (Connection refused); check"
                                 " -O roboflow.api_url=URL and that the server runs and is reachable from here")


def test_an_answer_for_a_prompt_not_sent_fails_the_image(server, concept, monkeypatch):
    from inference_sdk import InferenceHTTPClient

    real = InferenceHTTPClient.sam3_concept_segment

    def shifted(self, **arguments):
        answer = real(self, **arguments)
        answer["prompt_results"][0]["prompt_index"] = 5
        return answer

    monkeypatch.setattr(InferenceHTTPClient, "sam3_concept_segment", shifted)
    with pytest.raises(ImageFailed, match=r"unexpected answer: prompt result 0 answers prompt 5; 1 were sent"):
        concept().segment_concepts(sample_image(), [Concept(text="red")])


def test_segkit_run_with_phrases_writes_records_and_masks(segkit_cli, server, monkeypatch):
    monkeypatch.chdir(segkit_cli.root)  # no configs/default.yaml (its detections and ground truth) from where pytest runs
    data = segkit_cli.dataset
    out = segkit_cli.root / "out"
    result = segkit_cli.invoke("run", "-b", NAME, "--prompt", "person", "-p", "red car", "-i", str(data.images),
                               "-o", str(out), "-O", f"roboflow.api_url={server.url}", *fast_flags("roboflow"),
                               env={"ROBOFLOW_API_KEY": server.api_key, "SEGKIT_ROBOFLOW_API_KEY": None})
    assert result.exit_code == 0, result.output
    assert "2 images, 2 segmented" in result.output
    for name in data.names:
        record = json.loads((out / "json" / f"{name}.json").read_text(encoding="utf-8"))
        assert [c["text"] for c in record["concepts"][NAME]] == ["person", "red car"]
        (instance,) = record["instances"][NAME]
        assert (instance["concept"], instance["label"]) == (1, "red car")
        mask = read_mask(out / instance["mask"])
        assert (mask & DISC).sum() / (mask | DISC).sum() > 0.97 and instance["area_px"] == int(mask.sum())
        settings = record["backends"][NAME]["settings"]
        assert settings["endpoint"] == CONCEPT_PATH and settings["api_host"] == server.url
    assert len(server.seen()) == 2 and all(len(s.prompts) == 2 for s in server.seen())
    assert_no_secret(server.api_key, result.output, folder=out)
