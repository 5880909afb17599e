"""Network behaviour through the real SDK against injected faults: timeouts, retries with backoff and
jitter, what ends the run and what fails one image, and the key kept out of every message."""

from __future__ import annotations

import random
import re
import socket
import time

import numpy as np
import pytest

from segkit.errors import BackendFatalError, ImageFailed
from segkit.testing import SAMPLE_BOXES, sample_image
from segkit_roboflow.options import RoboflowOptions
from segkit_roboflow.testing import SAM3_PATH, Fault, pixels_digest, reference_mask
from segkit_roboflow.transport import RetryPolicy, RoboflowTransport, summarize_api_message

IMAGE = sample_image()
BOXES = SAMPLE_BOXES


def assert_correct(result):
    assert np.array_equal(result.masks, np.stack([reference_mask(b, 120, 160) for b in BOXES]))


def statuses(server):
    return [s.status for s in server.seen()]


def test_429_then_success(server, make_segmenter):
    server.inject(Fault(status=429, retry_after=0))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert statuses(server) == [429, 200]  # the SDK's own retry (1 s later) takes it


def test_503_three_times_then_success(server, make_segmenter):
    server.inject(Fault(status=503, times=3))
    segmenter = make_segmenter()
    waits: list[float] = []
    segmenter._transport.sleep = lambda s: waits.append(s)
    assert_correct(segmenter.segment(IMAGE, BOXES))
    assert statuses(server) == [503, 503, 503, 200]  # the SDK gave up after 3, our retry got through
    assert len(waits) == 1


def test_retries_back_off_exponentially_with_jitter_and_are_bounded(server, make_segmenter):
    server.inject(Fault(status=500, times=None))
    segmenter = make_segmenter(max_tries=4, backoff=0.02, max_backoff=0.05)
    waits: list[float] = []
    segmenter._transport.sleep = lambda s: (waits.append(s), time.sleep(s))
    with pytest.raises(ImageFailed, match=r"failed after 4 tries: HTTP 500 Internal Server Error"):
        segmenter.segment(IMAGE, BOXES)
    assert statuses(server) == [500] * 4  # 500 is not retried by the SDK itself: 4 tries, 4 requests
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        step = min(0.05, 0.02 * 2 ** (attempt - 1))
        assert step / 2 <= wait <= step
    gaps = [b.started - a.started for a, b in zip(server.seen(), server.seen()[1:])]
    assert all(gap >= wait for gap, wait in zip(gaps, waits))


def test_backoff_delays():
    policy = RetryPolicy(max_tries=6, backoff=1.0, max_backoff=5.0)
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (5, 5.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= step / 2 and max(delays) <= step
        assert len(set(delays)) > 100  # jittered
    assert policy.delay(1, rng, retry_after=3.0) >= 3.0  # Retry-After is honoured...
    assert policy.delay(1, rng, retry_after=60.0) <= 5.0  # ...up to max_backoff


def test_slow_answer_times_out_and_is_retried(server, make_segmenter):
    server.inject(Fault(delay=2.0))
    started = time.perf_counter()
    assert_correct(make_segmenter(timeout=0.3).segment(IMAGE, BOXES))
    assert time.perf_counter() - started < 1.5
    assert len(server.seen()) == 2


def test_server_that_never_answers_in_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(delay=2.0, times=None))
    with pytest.raises(ImageFailed, match=r"failed after 2 tries: no answer within 0.2 s"):
        make_segmenter(timeout=0.2, max_tries=2).segment(IMAGE, BOXES)
    assert len(server.seen()) == 2


def test_malformed_json_body_is_retried(server, make_segmenter):
    server.inject(Fault(malformed=True))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert statuses(server) == [200, 200]


def test_malformed_json_body_every_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(malformed=True, times=None))
    with pytest.raises(ImageFailed, match="not valid JSON"):
        make_segmenter(max_tries=2).segment(IMAGE, BOXES)


def test_dropped_connection_is_retried(server, make_segmenter):
    server.inject(Fault(drop=True))
    assert_correct(make_segmenter().segment(IMAGE, BOXES))
    assert len(server.seen()) == 2  # the SDK retries connection errors itself


def test_connection_dropped_every_time_fails_the_image(server, make_segmenter):
    server.inject(Fault(drop=True, times=None))
    with pytest.raises(ImageFailed, match=r"cannot connect to .* \(Remote end closed connection without response\)"):
        make_segmenter(max_tries=1).segment(IMAGE, BOXES)
    assert len(server.seen()) == 3  # the SDK's 3 tries inside our one


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
    assert "ROBOFLOW_API_KEY" in message and "rf_wrong_key_0123456789" not in message


def test_wrong_api_url_path_is_404_and_ends_the_run(server, make_segmenter):
    with pytest.raises(BackendFatalError, match=r"/sam2/segment_image was not found at .*check api_url"):
        make_segmenter(api_url=server.url + "/v2").segment(IMAGE, BOXES)


def test_too_large_image_fails_only_that_image(server, make_segmenter):
    server.inject(Fault(status=413))
    segmenter = make_segmenter()
    with pytest.raises(ImageFailed, match="too large"):
        segmenter.segment(IMAGE, BOXES)
    assert_correct(segmenter.segment(IMAGE, BOXES))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_fails_the_image(make_segmenter):
    with pytest.raises(ImageFailed, match=r"failed after 1 try: cannot connect to http://127.0.0.1:\d+ \(.*Connection refused\)"):
        make_segmenter(api_url=f"http://127.0.0.1:{free_port()}", max_tries=1).segment(IMAGE, BOXES)


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


@pytest.mark.parametrize("transport", ["query", "body", "header"])
def test_the_key_is_in_no_error_message(server, make_segmenter, transport):
    """With the key in the URL (query), the SDK's own error strings carry the URL: all redacted."""
    key = server.api_key
    messages = []
    cases = [
        (Fault(status=500, times=None), {}),
        (Fault(status=422, message=f"echo api_key={key} and {key}"), {}),
        (Fault(status=401), {}),
        (Fault(delay=1.0, times=None), {"timeout": 0.1}),
        (Fault(malformed=True, times=None), {}),
    ]
    if transport == "query":  # connection errors quote the URL, which carries the key only here
        cases.append((None, {"api_url": f"http://127.0.0.1:{free_port()}"}))
    for fault, options in cases:
        server.clear()
        if fault is not None:
            server.inject(fault)
        segmenter = make_segmenter(api_key_transport=transport, max_tries=1, **options)
        with pytest.raises((ImageFailed, BackendFatalError)) as caught:
            segmenter.segment(IMAGE, BOXES[:1])
        messages.append(str(caught.value))
    assert all(key not in m and key[3:-3] not in m for m in messages), messages
    assert any("***" in m for m in messages)


def test_long_or_structured_server_messages_are_summarized():
    detail = [{"type": "missing", "loc": ["body", "image"], "msg": "Field required", "input": {"api_key": "secret"}}] * 5
    summary = summarize_api_message(detail)
    assert summary == "body.image: Field required; body.image: Field required; body.image: Field required; and 2 more"
    assert summarize_api_message("x" * 1000).endswith("...") and len(summarize_api_message("x" * 1000)) == 300
    assert summarize_api_message("<html><body>502 Bad Gateway</body></html>") == ""


def test_transport_without_load_is_an_error():
    transport = RoboflowTransport("roboflow-sam2-tiny", RoboflowOptions(), "k" * 8, "/sam2/segment_image")
    with pytest.raises(BackendFatalError, match="before load"):
        transport.call(lambda client: {})


def test_image_sent_is_the_image_given(server, make_segmenter):
    picture = sample_image(seed=9, size=(203, 151))
    make_segmenter("roboflow-sam3").segment(picture, np.array([[3, 4, 100, 90]], np.float32))
    assert server.seen()[0].image_digest == pixels_digest(picture)
