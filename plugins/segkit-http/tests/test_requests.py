"""Requests that work, retries with backoff, what is not retried, and the key in no message."""

from __future__ import annotations

import json
import random
import time

import pytest

from segkit import RetryPolicy, register_secret, retry_after_seconds
from segkit_http import HttpError


from segkit_http.testing import EchoFault as Fault
from segkit_http.testing import assert_no_secret, in_thread


def test_a_post_sends_json_with_the_headers_and_query_given(server, make_client):
    client = make_client(server.origin + "/v1")
    answer = client.post_json("/echo", {"n": [1, 2.5], "text": "円"}, headers={"Authorization": "Bearer k"}, query={"a": "b c"})
    assert answer == {"echo": {"n": [1, 2.5], "text": "円"}}
    (seen,) = server.seen()
    assert seen.path == "/v1/echo" and seen.query == {"a": ["b c"]}
    assert seen.headers["Authorization"] == "Bearer k" and seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("segkit-http/")


def test_one_connection_serves_a_threads_requests(server, make_client):
    client = make_client(server.origin + "/v1")
    for n in range(5):
        client.post_json("/echo", {"n": n})
    assert len(client._connections) == 1 and len(server.seen()) == 5


def test_429_is_tried_again_after_retry_after(server, make_client):
    server.inject(Fault(429, retry_after=0.04))
    client = make_client(server.origin + "/v1")
    waits: list[float] = []
    client.sleep = lambda s: (waits.append(s), time.sleep(s))
    assert client.post_json("/echo", {}) == {"echo": {}}
    assert server.statuses() == [429, 200]
    assert len(waits) == 1 and 0.04 <= waits[0] <= 0.05  # at least Retry-After, capped by max_backoff


def test_retries_back_off_exponentially_with_jitter_and_are_bounded(server, make_client):
    server.inject(Fault(500, times=None))
    client = make_client(server.origin + "/v1", retry=RetryPolicy(max_tries=4, backoff=0.02, max_backoff=0.05))
    waits: list[float] = []
    client.sleep = lambda s: (waits.append(s), time.sleep(s))
    with pytest.raises(HttpError) as caught:
        client.post_json("/echo", {})
    assert str(caught.value) == f"{server.origin}/v1/echo failed after 4 tries: HTTP 500 Internal Server Error: test fault 500"
    assert (caught.value.kind, caught.value.status) == ("failed", 500)
    assert server.statuses() == [500] * 4 and len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        step = min(0.05, 0.02 * 2 ** (attempt - 1))
        assert step / 2 <= wait <= step


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_passing_troubles_are_tried_again(server, make_client, status):
    server.inject(Fault(status, times=2))
    assert make_client(server.origin + "/v1").post_json("/echo", {"x": 1}) == {"echo": {"x": 1}}
    assert server.statuses() == [status, status, 200]


def test_a_body_that_is_not_json_and_a_dropped_connection_are_tried_again(server, make_client):
    server.inject(Fault(200, body=b"<html>upstream error</html>"), Fault(-1))
    assert make_client(server.origin + "/v1").post_json("/echo", {}) == {"echo": {}}
    assert server.statuses() == [200, -1, 200]


def test_a_connection_dropped_every_time_says_so(server, make_client):
    server.inject(Fault(-1, times=None))
    with pytest.raises(HttpError, match=r"failed after 2 tries: the connection broke \(the server closed the connection without an answer\)"):
        make_client(server.origin + "/v1", retry=RetryPolicy(2, 0.01, 0.01)).post_json("/echo", {})


@pytest.mark.parametrize("status, said", [(400, "HTTP 400 Bad Request: test fault 400"), (401, "HTTP 401 Unauthorized: test fault 401"),
                                          (404, "HTTP 404 Not Found: test fault 404"), (501, "HTTP 501 Not Implemented: test fault 501")])
def test_other_statuses_are_not_tried_again(server, make_client, status, said):
    server.inject(Fault(status))
    with pytest.raises(HttpError) as caught:
        make_client(server.origin + "/v1").post_json("/echo", {})
    error = caught.value
    assert (error.kind, error.status, error.detail) == ("status", status, f"test fault {status}")
    assert str(error) == f"{server.origin}/v1/echo answered {said}" and json.loads(error.body) == {"message": f"test fault {status}"}
    assert len(server.seen()) == 1


def test_an_answer_that_is_not_an_object_fails_without_a_retry(server, make_client):
    server.inject(Fault(200, body=[1, 2]))
    with pytest.raises(HttpError, match=r"/v1/echo answered with a JSON list, not an object") as caught:
        make_client(server.origin + "/v1").post_json("/echo", {})
    assert caught.value.kind == "answer" and len(server.seen()) == 1


def test_an_answer_larger_than_the_limit_fails(server, make_client):
    with pytest.raises(HttpError, match=r"answered with more than 1 MB") as caught:
        make_client(server.origin + "/v1", max_response_bytes=1024 * 1024).post_json("/echo", {"big": "x" * 2_000_000})
    assert caught.value.kind == "answer"


def test_at_most_concurrency_requests_are_in_flight(server, make_client):
    server.inject(Fault(200, body={"ok": 1}, delay=0.2, times=None))
    client = make_client(server.origin + "/v1", concurrency=2)
    threads = [in_thread(lambda: client.post_json("/echo", {})) for _ in range(5)]
    for thread, outcome in threads:
        thread.join(10)
        assert outcome == {"result": {"ok": 1}}
    assert server.max_in_flight == 2


def test_a_key_the_server_echoes_is_masked_before_anything_is_cut(server, make_client):
    key = "rf_Zq8Lw3Xn5Vt7"  # no sk- prefix: masked because it is registered, whatever its shape
    register_secret(key)
    # the key straddles the 300th character, where the server's words are cut
    server.inject(Fault(500, body={"message": "x" * 290 + key + " rest"}, times=None),)
    with pytest.raises(HttpError) as caught:
        make_client(server.origin + "/v1", retry=RetryPolicy(1, 0, 0)).post_json("/echo", {}, headers={"Authorization": f"Bearer {key}"})
    assert_no_secret(key, str(caught.value), caught.value.detail)
    assert caught.value.detail.endswith("***...") or "***" in caught.value.detail


def test_backoff_delays_double_with_jitter_and_honour_retry_after():
    policy = RetryPolicy(max_tries=6, backoff=1.0, max_backoff=5.0)
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (5, 5.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= step / 2 and max(delays) <= step
        assert len(set(delays)) > 100  # jittered
    assert policy.delay(1, rng, retry_after=3.0) >= 3.0  # Retry-After is honoured...
    assert policy.delay(1, rng, retry_after=60.0) <= 5.0  # ...up to max_backoff
    assert (retry_after_seconds("2.5"), retry_after_seconds(None), retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")) == (2.5, None, None)


def test_a_header_http_client_refuses_is_one_line_without_the_key(server, make_client):
    key = "zz_LINEBREAK0123"
    register_secret(key)
    with pytest.raises(HttpError, match=r"the request cannot be sent \(Invalid header value") as caught:
        make_client(server.origin + "/v1").post_json("/echo", {}, headers={"Authorization": f"Bearer {key}\nX: y"})
    assert_no_secret(key, str(caught.value))
