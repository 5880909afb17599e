"""Network behaviour against injected faults: what is tried again, what ends the run and what fails one
image, the deadline, Ctrl-C, a server that is not there, and the key kept out of every message. (How
the retries wait is segkit-http's, tested there.)"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import segkit
from segkit import BackendFatalError, ConfigError, ImageFailed
from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_http.testing import DripServer, assert_no_secret, closed_port, in_thread
from segkit_roboflow import RoboflowSam2Segmenter
from segkit_roboflow.testing import SAM3_PATH, Fault, pixels_digest, reference_mask

IMAGE = sample_image()
BOXES = SAMPLE_BOXES


def assert_correct(result):
    assert np.array_equal(result.masks, np.stack([reference_mask(b, 120, 160) for b in BOXES]))


def statuses(server):
    return [s.status for s in server.seen()]


def test_429_then_success(server, make_segmenter):
    server.inject(Fault(status=429, retry_after=0))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert statuses(server) == [429, 200]


def test_503_twice_then_success(server, make_segmenter):
    server.inject(Fault(status=503, times=2))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert statuses(server) == [503, 503, 200]  # one request a try: no retries inside retries


def test_server_errors_every_time_fail_the_image_after_its_tries(server, make_segmenter):
    server.inject(Fault(status=500, times=None))
    with pytest.raises(ImageFailed, match=r"^http://127.0.0.1:\d+/sam2/segment_image failed after 4 tries: HTTP 500 Internal Server Error"):
        make_segmenter(max_tries=4).segment(IMAGE, BOXES)
    assert statuses(server) == [500] * 4


def test_slow_answer_times_out_and_is_retried(server, make_segmenter):
    server.inject(Fault(delay=2.0))
    assert_correct(make_segmenter(timeout=0.3).segment(IMAGE, BOXES))
    assert len(server.seen()) == 2


def test_server_that_never_answers_in_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(delay=2.0, times=None))
    with pytest.raises(ImageFailed, match=r"failed after 2 tries: did not answer within 0.2 s \(timeout: raise it with -O roboflow.timeout=SECONDS\)$"):
        make_segmenter(timeout=0.2, max_tries=2).segment(IMAGE, BOXES)
    assert len(server.seen()) == 2


def test_a_server_that_drips_its_answer_ends_at_the_deadline():
    with DripServer(interval=0.05) as server:  # every read gets a byte in time; the answer would take 5 s
        segmenter = segkit.get_backend("roboflow-sam2-tiny", api_url=server.origin, api_key="rf_drip_0123456789",
                                       timeout=0.5, max_tries=1)
        with pytest.raises(ImageFailed, match=r"^http://127.0.0.1:\d+/sam2/segment_image failed after 1 try: did not answer within 0.5 s"):
            segmenter.segment(IMAGE, BOXES)
        segmenter.close()


@pytest.mark.parametrize("name", ["roboflow-sam2-tiny", "roboflow-sam3"])
def test_close_from_another_thread_stops_held_requests_within_two_seconds(name):
    """What segkit does on Ctrl-C: close() every backend while its threads wait on the server."""
    with DripServer(interval=3600) as server:  # says nothing for an hour
        segmenter = segkit.get_backend(name, api_url=server.origin, api_key="rf_hold_0123456789", timeout=0)
        held, outcome = in_thread(lambda: segmenter.segment(IMAGE, BOXES))
        while server.requests < (3 if name == "roboflow-sam3" else 1):
            time.sleep(0.01)
        closing, closed = in_thread(segmenter.close)
        closing.join(2)
        held.join(2)
        assert not closing.is_alive() and not held.is_alive() and "error" not in closed
    assert isinstance(outcome["error"], BackendFatalError) and str(outcome["error"]) == f"{name}: stopped"


def test_malformed_json_body_is_retried(server, make_segmenter):
    server.inject(Fault(malformed=True))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert statuses(server) == [200, 200]


def test_malformed_json_body_every_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(malformed=True, times=None))
    with pytest.raises(ImageFailed, match="failed after 2 tries: the answer is not JSON"):
        make_segmenter(max_tries=2).segment(IMAGE, BOXES)


def test_dropped_connection_is_retried(server, make_segmenter):
    server.inject(Fault(drop=True))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert len(server.seen()) == 2


def test_connection_dropped_every_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(drop=True, times=None))
    with pytest.raises(ImageFailed, match=r"failed after 1 try: the connection broke \(the server closed the connection without an answer\)"):
        make_segmenter(max_tries=1).segment(IMAGE, BOXES)
    assert len(server.seen()) == 1


@pytest.mark.parametrize("status, words", [(401, "refused the API key (HTTP 401 Unauthorized"),
                                           (403, "refused the API key (HTTP 403 Forbidden"),
                                           (402, "billing"),
                                           (400, "rejected the request (HTTP 400 Bad Request"),
                                           (422, "rejected the request (HTTP 422 Unprocessable"),
                                           (501, "does not implement /sam2/segment_image")])
def test_client_errors_end_the_run_without_retry(server, make_segmenter, status, words):
    server.inject(Fault(status=status, times=None))
    segmenter = make_segmenter()
    with pytest.raises(BackendFatalError, match=re.escape(words)) as caught:
        segmenter.segment(IMAGE, BOXES)
    assert len(server.seen()) == 1
    assert "\n" not in str(caught.value) and str(caught.value).startswith("roboflow-sam2-tiny: ")
    with pytest.raises(BackendFatalError):  # images still in flight stop at once, without a request
        segmenter.segment(IMAGE, BOXES)
    assert len(server.seen()) == 1


def test_wrong_key_ends_the_run_with_one_clear_line(server, make_segmenter):
    with pytest.raises(BackendFatalError) as caught:
        make_segmenter(api_key="rf_wrong_key_0123456789").segment(IMAGE, BOXES)
    message = str(caught.value)
    assert "refused the API key (HTTP 401 Unauthorized: Unauthorized access to roboflow API" in message
    assert "ROBOFLOW_API_KEY" in message
    assert_no_secret("rf_wrong_key_0123456789", message)


def test_wrong_api_url_path_is_404_and_ends_the_run(server, make_segmenter):
    with pytest.raises(BackendFatalError, match=r"/sam2/segment_image was not found at .*check api_url"):
        make_segmenter(api_url=server.url + "/v2").segment(IMAGE, BOXES)


def test_too_large_image_fails_only_that_image(server, make_segmenter):
    server.inject(Fault(status=413))
    segmenter = make_segmenter()
    with pytest.raises(ImageFailed, match="too large"):
        segmenter.segment(IMAGE, BOXES)
    assert_correct(segmenter.segment(IMAGE, BOXES))


def test_no_server_is_one_line_when_the_backend_loads():
    port = closed_port()
    with pytest.raises(ConfigError) as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_url=f"http://127.0.0.1:{port}", api_key="rf_key_0123456789")
    assert str(caught.value) == (f"roboflow-sam2-tiny: cannot connect to http://127.0.0.1:{port} (Connection refused);"
                                 " check -O roboflow.api_url=URL and that the server runs and is reachable from here")


def test_sam3_one_failing_prompt_fails_the_image_and_a_fatal_one_the_run(server, make_segmenter):
    segmenter = make_segmenter("roboflow-sam3", max_tries=2)
    server.inject(Fault(status=500, times=None, match=lambda seen: seen.boxes_xyxy[0] == tuple(BOXES[1].tolist())))
    with pytest.raises(ImageFailed, match="failed after 2 tries: HTTP 500"):
        segmenter.segment(IMAGE, BOXES)
    server.clear()
    server.inject(Fault(status=401, endpoint=SAM3_PATH))
    with pytest.raises(BackendFatalError, match="refused the API key"):
        segmenter.segment(IMAGE, BOXES)


@pytest.mark.parametrize("transport, channel", [("query", "query"), ("body", "body"), ("header", "header"), ("auto", "body")])
def test_key_transport(server, make_segmenter, transport, channel):
    make_segmenter(api_key_transport=transport).segment(IMAGE, BOXES[:1])
    assert server.seen()[0].key_channel == channel


@pytest.mark.parametrize("url, mode", [("https://serverless.roboflow.com", "v0"), ("https://my-deployment.roboflow.cloud", "v1")])
def test_auto_is_the_sdks_own_choice_query_for_roboflow_hosted_urls(url, mode):
    """v0: the key in the query string; v1: in the JSON body (inference-sdk decides from the URL)."""
    from segkit_http import HttpClient
    from segkit_roboflow.sdk import SdkClient

    http = HttpClient("t", url, url_option="-O roboflow.api_url=URL", timeout_option="-O roboflow.timeout=SECONDS")
    assert SdkClient(http, url, "rf_key_0123456789", "auto").client.client_mode.value == mode


@pytest.mark.parametrize("transport", ["query", "body", "header"])
def test_the_key_is_in_no_error_message(server, make_segmenter, transport):
    key = server.api_key
    messages = []
    cases = [
        (Fault(status=500, times=None), {}),
        (Fault(status=422, message=f"echo api_key={key} and {key}"), {}),
        (Fault(status=500, message="x" * 290 + f" {key} is cut here"), {}),
        (Fault(status=401), {}),
        (Fault(delay=1.0, times=None), {"timeout": 0.1}),
        (Fault(malformed=True, times=None), {}),
    ]
    for fault, options in cases:
        server.clear()
        server.inject(fault)
        segmenter = make_segmenter(api_key_transport=transport, max_tries=1, **options)
        with pytest.raises((ImageFailed, BackendFatalError)) as caught:
            segmenter.segment(IMAGE, BOXES[:1])
        messages.append(str(caught.value))
    with pytest.raises(ConfigError) as caught:
        make_segmenter(api_key_transport=transport, api_url=f"http://127.0.0.1:{closed_port()}")
    messages.append(str(caught.value))
    assert_no_secret(key, *messages)
    assert any("***" in m for m in messages)


def test_segment_before_load_is_an_error():
    with pytest.raises(RuntimeError, match="before load"):
        RoboflowSam2Segmenter("roboflow-sam2-tiny").segment(IMAGE, BOXES)


def test_image_sent_is_the_image_given(server, make_segmenter):
    picture = sample_image(seed=9, size=(203, 151))
    make_segmenter("roboflow-sam3").segment(picture, np.array([[3, 4, 100, 90]], np.float32))
    assert server.seen()[0].image_digest == pixels_digest(picture)
