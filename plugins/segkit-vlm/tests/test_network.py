"""The detector against the loopback server: what it sends, retries with backoff, what stops the run and
what fails one image, timeouts, and the key kept out of every message."""

from __future__ import annotations

import socket
import time

import pytest

from segkit.errors import ConfigError, ImageFailed
from segkit.testing import sample_image
from segkit_vlm.testing import Fault, pixels_digest

IMAGE = sample_image()  # 160 x 120


def statuses(server):
    return [s.status for s in server.seen()]


def test_the_request_carries_the_model_the_prompt_the_exact_pixels_and_the_key(server, make_detector):
    detector = make_detector(max_tokens=512)
    answer = detector.detect(IMAGE, "Locate every shape.")
    (seen,) = server.seen()
    assert seen.status == 200 and seen.problem is None
    assert seen.authorization == f"Bearer {server.api_key}" and seen.key_ok
    assert (seen.model, seen.max_tokens, seen.temperature, seen.prompt) == (server.model, 512, 0.0, "Locate every shape.")
    assert seen.image_size == (160, 120) and seen.image_digest == pixels_digest(IMAGE)  # lossless, RGB order
    assert answer.text == seen.answer and answer.text.startswith("```json\n[\n\t{\"bbox_2d\": [")
    assert answer.info == {"finish_reason": "stop", "model": server.model,
                           "usage": {"prompt_tokens": 1000, "completion_tokens": len(seen.answer) // 3,
                                     "total_tokens": 1000 + len(seen.answer) // 3}}
    assert answer.note == ""


def test_no_key_sends_no_authorization(server, make_detector, monkeypatch):
    server.api_key = ""  # a local server that wants none
    detector = make_detector()
    monkeypatch.delenv("OPENAI_API_KEY")
    detector.close()
    detector.load()
    detector.detect(IMAGE, "x")
    assert server.seen()[-1].authorization is None and server.seen()[-1].status == 200


def test_429_is_retried_after_retry_after(server, make_detector):
    server.inject(Fault(status=429, retry_after=0.04))
    detector = make_detector()
    waits: list[float] = []
    detector._transport.sleep = lambda s: (waits.append(s), time.sleep(s))
    detector.detect(IMAGE, "x")
    assert statuses(server) == [429, 200]
    assert len(waits) == 1 and 0.04 <= waits[0] <= 0.05  # at least Retry-After, capped by max_backoff


def test_503_twice_then_success(server, make_detector):
    server.inject(Fault(status=503, times=2))
    make_detector().detect(IMAGE, "x")
    assert statuses(server) == [503, 503, 200]


def test_retries_back_off_exponentially_with_jitter_and_are_bounded(server, make_detector):
    server.inject(Fault(status=500, times=None))
    detector = make_detector(max_tries=4, backoff=0.02, max_backoff=0.05)
    waits: list[float] = []
    detector._transport.sleep = lambda s: (waits.append(s), time.sleep(s))
    with pytest.raises(ImageFailed, match=r"vlm: http://127.0.0.1:\d+/v1/chat/completions failed after 4 tries: HTTP 500 Internal Server Error: test server fault 500"):
        detector.detect(IMAGE, "x")
    assert statuses(server) == [500] * 4 and len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        step = min(0.05, 0.02 * 2 ** (attempt - 1))
        assert step / 2 <= wait <= step


def test_a_slow_answer_times_out_and_is_tried_again(server, make_detector):
    server.inject(Fault(delay=2.0))
    started = time.perf_counter()
    make_detector(timeout=0.3).detect(IMAGE, "x")
    assert time.perf_counter() - started < 1.5
    assert len(server.seen()) == 2


def test_timeouts_every_time_fail_the_image_saying_how_to_wait_longer(server, make_detector):
    server.inject(Fault(delay=1.0, times=None))
    with pytest.raises(ImageFailed, match=r"failed after 2 tries: no answer within 0.2 s \(raise -O vlm.timeout=SECONDS\)"):
        make_detector(timeout=0.2, max_tries=2).detect(IMAGE, "x")


def test_a_refused_key_stops_everything_and_is_never_shown(server, make_detector, monkeypatch):
    detector = make_detector()
    wrong = "sk-live-WRONG0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    detector.close()
    detector.load()
    with pytest.raises(ConfigError) as caught:
        detector.detect(IMAGE, "x")
    message = str(caught.value)
    assert message == (f"vlm: {server.url}/chat/completions refused the API key (HTTP 401 Unauthorized (invalid_api_key));"
                       " check the key in OPENAI_API_KEY")
    assert wrong not in message and "WRONG" not in message
    with pytest.raises(ConfigError):  # every later image stops at once, without asking again
        detector.detect(IMAGE, "x")
    assert len(server.seen()) == 1


def test_a_server_that_wants_a_key_says_which_variable(server, make_detector, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    detector = make_detector()
    with pytest.raises(ConfigError, match=r"asks for an API key \(HTTP 401 Unauthorized \(invalid_api_key\)\); set OPENAI_API_KEY, or name the variable"):
        detector.detect(IMAGE, "x")


def test_an_unknown_model_stops_the_run_naming_it(server, make_detector):
    with pytest.raises(ConfigError, match=r"HTTP 404 Not Found: The model `Qwen/Nope` does not exist.; check --model 'Qwen/Nope'"):
        make_detector(model="Qwen/Nope").detect(IMAGE, "x")


def test_a_wrong_api_path_stops_the_run(server, make_detector):
    with pytest.raises(ConfigError, match=r"HTTP 404 Not Found: Not Found; check --model .* and --api-url \(most servers want it to end in /v1\)"):
        make_detector(api_url=server.url.removesuffix("/v1")).detect(IMAGE, "x")


def test_a_request_refused_for_one_image_fails_that_image(server, make_detector):
    server.inject(Fault(status=400, body={"object": "error", "message": "This model's maximum context length is 32768 tokens."}))
    detector = make_detector()
    with pytest.raises(ImageFailed, match=r"refused the request for this image \(HTTP 400 Bad Request: This model's maximum context length"):
        detector.detect(IMAGE, "x")
    detector.detect(IMAGE, "x")  # the next image goes on
    assert statuses(server) == [400, 200]


def test_nobody_listening_fails_the_image_after_its_tries(make_detector):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ImageFailed, match=rf"http://127.0.0.1:{port}/v1/chat/completions failed after 2 tries: cannot connect"):
        make_detector(api_url=f"http://127.0.0.1:{port}/v1", max_tries=2).detect(IMAGE, "x")


def test_a_cut_off_answer_comes_with_a_note(server, make_detector):
    server.inject(Fault(cut_at=30))
    answer = make_detector(max_tokens=64).detect(IMAGE, "x")
    assert len(answer.text) == 30 and answer.info["finish_reason"] == "length"
    assert answer.note == "the model stopped at max_tokens=64: raise it with -O vlm.max_tokens=N"


def test_bodies_that_are_not_json_are_tried_again(server, make_detector):
    server.inject(Fault(raw=b"<html>upstream error</html>"), Fault(raw=b'{"choices": [{"message": {"content": "[1'))
    make_detector().detect(IMAGE, "x")
    assert statuses(server) == [200, 200, 200] and server.seen()[-1].answer is not None


def test_an_answer_without_choices_fails_the_image(server, make_detector):
    server.inject(Fault(raw=b'{"error": {"message": "the model crashed"}}'))
    with pytest.raises(ImageFailed, match=r"vlm: the server's answer has no choices \(the model crashed\)"):
        make_detector().detect(IMAGE, "x")
