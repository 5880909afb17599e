"""The detector against the loopback server: what it sends, what is tried again, what stops the run and
what fails one image, the deadline, Ctrl-C, and the key kept out of every message and every answer.
(How the retries wait is segkit-http's, tested there.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

import pytest
from PIL import Image

import segkit
from segkit import BackendFatalError, ConfigError, ImageFailed
from segkit.testing import sample_image
from segkit_http.testing import DripServer, assert_no_secret, closed_port, in_thread
from segkit_vlm.testing import ChatCompletionsTestServer, Fault, pixels_digest

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


def test_429_and_503_are_tried_again(server, make_detector):
    server.inject(Fault(status=429, retry_after=0.01), Fault(status=503, times=2))
    make_detector(max_tries=4).detect(IMAGE, "x")
    assert statuses(server) == [429, 503, 503, 200]


def test_a_server_error_every_time_fails_the_image_after_its_tries(server, make_detector):
    server.inject(Fault(status=500, times=None))
    with pytest.raises(ImageFailed, match=r"^vlm: http://127.0.0.1:\d+/v1/chat/completions failed after 4 tries: HTTP 500 Internal Server Error: test server fault 500$"):
        make_detector(max_tries=4).detect(IMAGE, "x")
    assert statuses(server) == [500] * 4


def test_a_slow_answer_times_out_and_is_tried_again(server, make_detector):
    server.inject(Fault(delay=2.0))
    make_detector(timeout=0.3).detect(IMAGE, "x")
    assert len(server.seen()) == 2


def test_timeouts_every_time_fail_the_image_saying_how_to_wait_longer(server, make_detector):
    server.inject(Fault(delay=1.0, times=None))
    with pytest.raises(ImageFailed, match=r"failed after 2 tries: did not answer within 0.2 s \(timeout: raise it with -O vlm.timeout=SECONDS\)$"):
        make_detector(timeout=0.2, max_tries=2).detect(IMAGE, "x")


def test_a_server_that_drips_its_answer_ends_at_the_deadline(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with DripServer(interval=0.05) as server:  # every read gets a byte in time; the answer would take 4 s
        detector = segkit.get_detector("vlm", model="m", api_url=server.origin + "/v1", timeout=0.5, max_tries=1)
        with pytest.raises(ImageFailed, match=r"^vlm: http://127.0.0.1:\d+/v1/chat/completions failed after 1 try: did not answer within 0.5 s"):
            detector.detect(IMAGE, "x")
        detector.close()


def test_close_from_another_thread_stops_a_held_request_within_two_seconds(monkeypatch):
    """What segkit does on Ctrl-C: close() every detector while its threads wait on the server."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with DripServer(interval=3600) as server:  # says nothing for an hour
        detector = segkit.get_detector("vlm", model="m", api_url=server.origin + "/v1", timeout=0, concurrency=2)
        held = [in_thread(lambda: detector.detect(IMAGE, "x")) for _ in range(2)]
        while server.requests < 2:
            time.sleep(0.01)
        closing, closed = in_thread(detector.close)
        closing.join(2)
        for thread, _ in held:
            thread.join(2)
        assert not closing.is_alive() and "error" not in closed
        assert not any(thread.is_alive() for thread, _ in held)
    for _, outcome in held:
        assert isinstance(outcome["error"], BackendFatalError) and str(outcome["error"]) == "vlm: stopped"
    with pytest.raises(BackendFatalError, match="vlm: stopped"):
        detector.detect(IMAGE, "x")


def test_a_refused_key_stops_everything_and_is_never_shown(server, make_detector, monkeypatch):
    detector = make_detector()
    wrong = "WRONG0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    detector.close()
    detector.load()
    with pytest.raises(ConfigError) as caught:
        detector.detect(IMAGE, "x")
    message = str(caught.value)
    assert message == (f"vlm: {server.url}/chat/completions refused the API key (HTTP 401 Unauthorized (invalid_api_key));"
                       " check the key in OPENAI_API_KEY")
    assert_no_secret(wrong, message)
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


def test_nobody_listening_is_one_line_when_the_detector_loads(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    port = closed_port()
    with pytest.raises(ConfigError) as caught:
        segkit.get_detector("vlm", model="m", api_url=f"http://127.0.0.1:{port}/v1")
    assert str(caught.value) == (f"vlm: cannot connect to http://127.0.0.1:{port}/v1 (Connection refused); check --api-url"
                                 " and that the server runs and is reachable from here")


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


def test_a_key_the_model_or_the_server_repeats_is_masked(monkeypatch):
    key = "rf_ABCDEF123456"  # no sk- prefix
    monkeypatch.setenv("OPENAI_API_KEY", key)

    with ChatCompletionsTestServer(api_key=key) as server:
        detector = segkit.get_detector("vlm", model=server.model, api_url=server.url, max_tries=1)
        server.inject(Fault(answer=f'[{{"bbox_2d": [1, 2, 30, 40], "label": "{key}"}}] my key is {key}'))
        answer = detector.detect(IMAGE, "x")
        server.inject(Fault(status=500, body={"error": {"message": "e" * 290 + f" bad key {key}"}}))
        with pytest.raises(ImageFailed) as caught:
            detector.detect(IMAGE, "x")
        detector.close()
    assert answer.text == '[{"bbox_2d": [1, 2, 30, 40], "label": "***"}] my key is ***'
    assert_no_secret(key, answer.text, repr(answer.info), str(caught.value))


def test_ctrl_c_stops_segkit_detect_on_a_held_request_within_seconds(tmp_path, monkeypatch):
    """The whole command, as a user presses Ctrl-C: the server holds every request (no deadline set), the
    run ends within a few seconds with exit 130, one line, and no traceback."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    images = tmp_path / "images"
    images.mkdir()
    for k in range(4):
        Image.fromarray(np.full((32, 48, 3), 40 * k, np.uint8)).save(images / f"p{k}.png")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with DripServer(interval=3600) as server:
        proc = subprocess.Popen([sys.executable, "-m", "segkit", "detect", "-i", str(images), "-o", str(tmp_path / "d"),
                                 "--prompt", "x", "--model", "m", "--box-space", "pixels", "--api-url", server.origin + "/v1",
                                 "-O", "vlm.timeout=0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 60
        while server.requests < 1 and time.time() < deadline:
            time.sleep(0.02)
        assert server.requests >= 1, f"segkit detect never reached the server: {proc.poll()}"
        pressed = time.time()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        took = time.time() - pressed
    assert proc.returncode == 130, stderr
    assert took < 5, f"Ctrl-C took {took:.1f} s to stop the run"
    assert "Traceback" not in stdout + stderr and "interrupted" in stderr
