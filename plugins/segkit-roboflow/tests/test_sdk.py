"""The backends call inference-sdk's own methods, with segkit-http underneath: what the server receives is
the SDK's request (requests' headers, the SDK's body), replacing the SDK method changes what is sent, the
SDK's retry loop never runs, its session hook is left as it was found, and cancel() stops requests in flight."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from inference_sdk.http.utils import executors
from segkit_http.testing import DripServer, in_thread
from segkit_roboflow.testing import SAM2_PATH, Fault, reference_mask
from segkit_roboflow.wire import box_prompts, encode_png_base64

import segkit
from segkit import BackendFatalError, ImageFailed
from segkit.testing import SAMPLE_BOXES, sample_image

IMAGE = sample_image()


def test_the_server_receives_the_sdks_request(server, make_segmenter):
    make_segmenter("roboflow-sam2-large", multimask=False).segment(IMAGE, SAMPLE_BOXES)
    # the same call on a plain SDK client (its own requests session, no segkit-http)
    plain = InferenceHTTPClient(api_url=server.url, api_key=server.api_key)
    plain.configure(InferenceConfiguration(api_key_transport="legacy")).sam2_segment_image(
        inference_input=encode_png_base64(IMAGE), prompts=box_prompts(SAMPLE_BOXES), sam2_version_id="hiera_large",
        multimask_output=False, mask_input_format="rle")
    ours, sdks = server.seen()
    assert ours.payload == sdks.payload and ours.path == sdks.path == SAM2_PATH
    assert ours.headers["User-Agent"] == sdks.headers["User-Agent"] and ours.headers["User-Agent"].startswith("python-requests/")
    assert ours.headers["Content-Type"] == sdks.headers["Content-Type"] == "application/json"
    assert list(ours.payload) == list(sdks.payload)  # the SDK's field order: its request builder ran


@pytest.mark.parametrize("name, method", [("roboflow-sam2-tiny", "sam2_segment_image"), ("roboflow-sam3", "sam3_visual_segment")])
def test_replacing_the_sdk_method_changes_what_is_sent(server, make_segmenter, monkeypatch, name, method):
    real = getattr(InferenceHTTPClient, method)
    calls = []

    def spy(self, **arguments):
        calls.append(arguments)
        return real(self, **{**arguments, "multimask_output": not arguments["multimask_output"]})

    monkeypatch.setattr(InferenceHTTPClient, method, spy)
    make_segmenter(name, multimask=True).segment(IMAGE, SAMPLE_BOXES[:1])
    assert len(calls) == 1 and calls[0]["mask_input_format"] == "rle"
    assert [s.multimask_output for s in server.seen()] == [False]  # the spy's change reached the wire


def test_the_sdks_own_retries_never_run(server, make_segmenter):
    """inference-sdk retries 503 three times, 1 s apart, inside each call: with segkit-http underneath,
    the tries are exactly max_tries and the waits are segkit's."""
    server.inject(Fault(status=503, times=None))
    started = time.perf_counter()
    with pytest.raises(ImageFailed, match=r"failed after 2 tries: HTTP 503 Service Unavailable"):
        make_segmenter(max_tries=2).segment(IMAGE, SAMPLE_BOXES)
    assert len(server.seen()) == 2 and time.perf_counter() - started < 1.0
    server.clear()
    server.inject(Fault(drop=True, times=None))  # connection errors: the SDK's other retry loop
    with pytest.raises(ImageFailed, match=r"failed after 3 tries: the connection broke"):
        make_segmenter(max_tries=3).segment(IMAGE, SAMPLE_BOXES)
    assert len(server.seen()) == 3


def test_the_sdks_session_hook_is_left_as_found(server, make_segmenter):
    mine = object()
    executors._REQUESTS_SESSION_LOCAL.session = mine
    try:
        make_segmenter().segment(IMAGE, SAMPLE_BOXES)
        assert executors._REQUESTS_SESSION_LOCAL.session is mine
    finally:
        del executors._REQUESTS_SESSION_LOCAL.session
    make_segmenter().segment(IMAGE, SAMPLE_BOXES)
    assert getattr(executors._REQUESTS_SESSION_LOCAL, "session", None) is None


def test_two_backends_in_one_thread_each_keep_their_own_server(make_segmenter, server):
    from segkit_roboflow.testing import RoboflowTestServer

    with RoboflowTestServer(shape="box") as other:
        a = make_segmenter("roboflow-sam2-tiny")
        b = segkit.get_backend("roboflow-sam2-tiny", api_url=other.url, api_key=other.api_key)
        try:
            a.segment(IMAGE, SAMPLE_BOXES[:1])
            masks = b.segment(IMAGE, SAMPLE_BOXES[:1]).masks
            a.segment(IMAGE, SAMPLE_BOXES[:1])
        finally:
            b.close()
        assert len(server.seen()) == 2 and len(other.seen()) == 1
        assert np.array_equal(masks[0], reference_mask(SAMPLE_BOXES[0], 120, 160, "box"))


@pytest.mark.parametrize("name", ["roboflow-sam2-tiny", "roboflow-sam3"])
def test_cancel_from_another_thread_stops_held_requests(name):
    with DripServer(interval=3600) as server:
        segmenter = segkit.get_backend(name, api_url=server.origin, api_key="rf_hold_0123456789", timeout=0)
        held, outcome = in_thread(lambda: segmenter.segment(IMAGE, SAMPLE_BOXES))
        assert server.started.wait(5)
        started = time.perf_counter()
        threading.Thread(target=segmenter.cancel).start()
        held.join(2)
        assert not held.is_alive() and time.perf_counter() - started < 2
        segmenter.close()
    assert isinstance(outcome["error"], BackendFatalError) and str(outcome["error"]) == f"{name}: stopped"


def test_an_sdk_without_the_session_hook_is_one_line_at_load(server, monkeypatch):
    monkeypatch.delattr(executors, "_REQUESTS_SESSION_LOCAL")
    with pytest.raises(segkit.ConfigError) as caught:
        segkit.get_backend("roboflow-sam2-tiny", api_url=server.url, api_key=server.api_key)
    message = str(caught.value)
    assert "has no per-thread requests session to send through; segkit-roboflow needs inference-sdk>=1.8,<2" in message
    assert "\n" not in message and server.seen() == []


def test_without_inference_sdk_the_backends_are_not_ready(monkeypatch):
    import importlib.util

    from segkit_roboflow import RoboflowSam3ConceptSegmenter, RoboflowSam3Segmenter

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inference_sdk" else real(name, *a))
    monkeypatch.setenv("ROBOFLOW_API_KEY", "rf_key_0123456789")
    for backend in (RoboflowSam3Segmenter("roboflow-sam3"), RoboflowSam3ConceptSegmenter("roboflow-sam3-concept")):
        readiness = backend.check_ready()
        assert not readiness.ready
        assert readiness.reason == ("inference-sdk is not installed; install it with pip install 'inference-sdk>=1.8,<2'"
                                    " (segkit-roboflow depends on it)")
