"""The loopback server speaks the API's wire format: driven through the real inference-sdk client and
through raw HTTP, including the server's request validation (422) and its key check (401); and the
backends' requests are the SDK's, field for field."""

from __future__ import annotations

import base64
import warnings

import cv2
import numpy as np
import pytest

pytest.importorskip("inference_sdk", reason="the wire tests need segkit-roboflow[test] (inference-sdk)")
import requests  # noqa: E402
from inference_sdk import InferenceConfiguration, InferenceHTTPClient  # noqa: E402
from inference_sdk.http.errors import HTTPCallErrorError  # noqa: E402

from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_roboflow.decode import decode_rle
from segkit_roboflow.testing import (
    SAM2_PATH,
    SAM3_PATH,
    RoboflowTestServer,
    confidence_for,
    pixels_digest,
    reference_mask,
)
from segkit_roboflow.wire import box_prompts, encode_png_base64


def client_for(server: RoboflowTestServer, key: str | None = None, transport: str = "legacy") -> InferenceHTTPClient:
    client = InferenceHTTPClient(api_url=server.url, api_key=key or server.api_key)
    return client.configure(InferenceConfiguration(api_key_transport=transport))


def png_b64(rgb: np.ndarray) -> str:
    return encode_png_base64(rgb)


def test_sdk_sam2_call_gets_one_rle_mask_per_box_in_order(server):
    image = sample_image()
    answer = client_for(server).sam2_segment_image(
        inference_input=png_b64(image), prompts=box_prompts(SAMPLE_BOXES), sam2_version_id="hiera_small",
        multimask_output=False, mask_input_format="rle",
    )
    assert set(answer) == {"predictions", "time"}
    assert [p["format"] for p in answer["predictions"]] == ["rle"] * 3
    for prediction, box in zip(answer["predictions"], SAMPLE_BOXES):
        assert np.array_equal(decode_rle(prediction["masks"], 120, 160), reference_mask(box, 120, 160))
        assert prediction["confidence"] == confidence_for(box)
    (seen,) = server.seen()
    assert (seen.path, seen.sam2_version_id, seen.format, seen.multimask_output) == (SAM2_PATH, "hiera_small", "rle", False)
    assert seen.key_channel == "body"  # a non-Roboflow URL: the SDK puts the key in the JSON body
    assert seen.image_encoding == "png" and seen.image_digest == pixels_digest(image)


@pytest.mark.parametrize("transport, sdk_transport", [("body", "legacy"), ("header", "header")])
@pytest.mark.parametrize("name", ["roboflow-sam2-large", "roboflow-sam3"])
def test_the_backends_send_what_the_sdk_sends(server, make_segmenter, name, transport, sdk_transport):
    image, boxes = sample_image(seed=4), SAMPLE_BOXES[1:2]
    make_segmenter(name, multimask=False, api_key_transport=transport).segment(image, boxes)
    client = client_for(server, transport=sdk_transport)
    if name == "roboflow-sam3":
        client.sam3_visual_segment(inference_input=png_b64(image), prompts=box_prompts(boxes), multimask_output=False,
                                   mask_input_format="rle")
    else:
        client.sam2_segment_image(inference_input=png_b64(image), prompts=box_prompts(boxes), sam2_version_id="hiera_large",
                                  multimask_output=False, mask_input_format="rle")
    ours, sdks = server.seen()
    assert ours.payload == sdks.payload and (ours.path, ours.key_channel) == (sdks.path, sdks.key_channel)
    assert ours.status == sdks.status == 200


def test_query_transport_is_the_sdks_v0_mode(server, make_segmenter):
    make_segmenter("roboflow-sam2-tiny", api_key_transport="query").segment(sample_image(), SAMPLE_BOXES[:1])
    client_for(server).select_api_v0().sam2_segment_image(inference_input=png_b64(sample_image()),
                                                         prompts=box_prompts(SAMPLE_BOXES[:1]), mask_input_format="rle")
    ours, sdks = server.seen()
    assert ours.payload == sdks.payload and ours.key_channel == sdks.key_channel == "query"


def test_sdk_numpy_input_would_be_lossy_jpeg_read_as_bgr(server):
    """Why the backends send PNG themselves: the SDK re-encodes numpy arrays as JPEG, taken as BGR."""
    image = sample_image()
    client_for(server).sam2_segment_image(inference_input=image, prompts=box_prompts(SAMPLE_BOXES[:1]))
    (seen,) = server.seen()
    assert seen.image_encoding == "jpeg" and seen.image_digest != pixels_digest(image)


def test_sdk_polygon_answer_is_a_list_of_integer_polygons(server):
    answer = client_for(server).sam2_segment_image(inference_input=png_b64(sample_image()), prompts=box_prompts(SAMPLE_BOXES[:1]))
    (prediction,) = answer["predictions"]
    assert prediction["format"] == "polygon" and len(prediction["masks"]) == 2  # ring + corner square
    assert all(isinstance(v, int) for polygon in prediction["masks"] for point in polygon for v in point)
    assert server.seen()[0].format == "json"  # the SDK's default mask_input_format


def test_sdk_sam3_visual_segment_answers_one_prompt_per_request(server):
    client = client_for(server)
    one = client.sam3_visual_segment(inference_input=png_b64(sample_image()), prompts=box_prompts(SAMPLE_BOXES[1:2]),
                                     mask_input_format="rle")
    two = client.sam3_visual_segment(inference_input=png_b64(sample_image()), prompts=box_prompts(SAMPLE_BOXES[:2]),
                                     mask_input_format="rle")
    assert len(one["predictions"]) == 1 and one["predictions"][0]["confidence"] == confidence_for(SAMPLE_BOXES[1])
    assert len(two["predictions"]) == 1  # as the docs warn: several prompts, one prediction
    assert [s.path for s in server.seen()] == [SAM3_PATH, SAM3_PATH] and server.seen()[0].sam2_version_id is None


@pytest.mark.parametrize("transport, channel", [("header", "header"), ("both", "header")])
def test_key_by_header(server, transport, channel):
    client_for(server, transport=transport).sam2_segment_image(inference_input=png_b64(sample_image()),
                                                                prompts=box_prompts(SAMPLE_BOXES[:1]))
    assert server.seen()[0].key_channel == channel and server.seen()[0].key_ok


def test_key_in_query_in_api_v0_mode(server):
    client = client_for(server).select_api_v0()  # what the SDK does for Roboflow-hosted URLs
    client.sam2_segment_image(inference_input=png_b64(sample_image()), prompts=box_prompts(SAMPLE_BOXES[:1]))
    assert server.seen()[0].key_channel == "query"


def test_wrong_key_is_401_with_the_servers_message(server):
    with pytest.raises(HTTPCallErrorError) as caught:
        client_for(server, key="rf_wrong_key_123").sam2_segment_image(
            inference_input=png_b64(sample_image()), prompts=box_prompts(SAMPLE_BOXES[:1]))
    assert caught.value.status_code == 401 and "Unauthorized access to roboflow API" in caught.value.api_message


def post(server: RoboflowTestServer, path: str, body, **kwargs) -> requests.Response:
    if isinstance(body, (bytes, str)):
        return requests.post(server.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=5, **kwargs)
    return requests.post(server.url + path, json=body, timeout=5, **kwargs)


def good_body(server: RoboflowTestServer) -> dict:
    return {"api_key": server.api_key, "image": {"type": "base64", "value": png_b64(sample_image())},
            "prompts": {"prompts": box_prompts(SAMPLE_BOXES[:1])}, "format": "rle"}


@pytest.mark.parametrize(
    "change, loc, kind",
    [
        (lambda b: b.pop("image"), ["body", "image"], "missing"),
        (lambda b: b["image"].pop("type"), ["body", "image", "type"], "missing"),
        (lambda b: b["prompts"]["prompts"][0]["box"].pop("width"), ["body", "prompts", "prompts", 0, "box", "width"], "missing"),
        (lambda b: b["prompts"]["prompts"][0]["box"].update(x="left"), ["body", "prompts", "prompts", 0, "box", "x"], "float_parsing"),
        (lambda b: b.update(prompts=[{"box": {"x": 1, "y": 1, "width": 2, "height": 2}}]), ["body", "prompts"], "model_type"),
        (lambda b: b.update(multimask_output="maybe"), ["body", "multimask_output"], "bool_parsing"),
    ],
)
@pytest.mark.parametrize("path", [SAM2_PATH, SAM3_PATH])
def test_malformed_body_is_422_with_an_http_validation_error(server, change, loc, kind, path):
    body = good_body(server)
    change(body)
    answer = post(server, path, body)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and {"loc", "msg", "type"} <= set(detail[0])
    assert detail[0]["loc"] == loc and detail[0]["type"] == kind


def test_body_that_is_not_json_is_422_json_invalid(server):
    answer = post(server, SAM2_PATH, b'{"image": ')
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_path_and_version(server):
    assert post(server, "/sam2/segment", good_body(server)).status_code == 404
    body = {**good_body(server), "sam2_version_id": "hiera_huge"}
    answer = post(server, SAM2_PATH, body)
    assert answer.status_code == 400 and answer.json() == {"message": "Invalid Model ID sent in request."}


def test_server_checks_that_boxes_arrive_centre_based():
    box = np.array([10.0, 12.0, 62.0, 70.0])
    with RoboflowTestServer(expected_boxes=[box]) as server:
        body = good_body(server)
        body["prompts"] = {"prompts": box_prompts(box[None])}
        assert post(server, SAM2_PATH, body).status_code == 200
        top_left = {"x": 10.0, "y": 12.0, "width": 52.0, "height": 58.0}  # COCO-style: x, y = top-left
        body["prompts"] = {"prompts": [{"box": top_left}]}
        refused = post(server, SAM2_PATH, body)
        assert refused.status_code == 400 and "centre-based" in refused.json()["message"]
        assert len(server.problems) == 1


def test_image_that_is_not_an_image_is_400(server):
    body = good_body(server)
    body["image"]["value"] = base64.b64encode(b"not an image").decode()
    answer = post(server, SAM2_PATH, body)
    assert answer.status_code == 400 and answer.json()["message"].startswith("Could not load input image")


def test_png_sent_is_decoded_to_the_same_pixels(server):
    image = sample_image(seed=3, size=(97, 61))
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SDK guidance warning once the transport is chosen
        client_for(server).sam2_segment_image(inference_input=base64.b64encode(buffer.tobytes()).decode(),
                                              prompts=box_prompts(np.array([[5, 5, 50, 40]], np.float32)))
    assert server.seen()[0].image_digest == pixels_digest(image) and server.seen()[0].image_shape == (61, 97, 3)
