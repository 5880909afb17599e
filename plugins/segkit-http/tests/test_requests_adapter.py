"""segkit_http.requests_adapter: a requests.Session whose requests go through HttpClient, so a library
built on requests keeps segkit-http's deadline, retries, abort and redaction, and no retry of its own."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("requests", reason="the adapter needs segkit-http[requests]")
import requests
from segkit_http import HttpError
from segkit_http.requests_adapter import HttpClientAdapter, session_for
from segkit_http.testing import DripServer, EchoFault, assert_no_secret, in_thread

from segkit import RetryPolicy


def test_a_requests_post_arrives_as_requests_built_it(server, make_client):
    session = session_for(make_client(server.origin + "/v1"))
    answer = session.post(server.origin + "/v1/echo", params={"api_key": "k 1"}, json={"n": [1, 2.5], "text": "円"},
                          headers={"X-Sdk": "yes"})
    assert isinstance(answer, requests.Response) and answer.status_code == 200 and answer.reason == "OK"
    assert answer.json() == {"echo": {"n": [1, 2.5], "text": "円"}}
    assert answer.headers["Content-Type"].startswith("application/json")
    (seen,) = server.seen()
    assert seen.path == "/v1/echo" and seen.query == {"api_key": ["k 1"]}
    assert seen.headers["X-Sdk"] == "yes" and seen.headers["User-Agent"].startswith("python-requests/")
    assert seen.headers["Accept-Encoding"] == "identity"  # the answer is read as it comes, never compressed
    assert isinstance(session.get_adapter("https://elsewhere.example"), HttpClientAdapter)


def test_retries_are_the_clients_and_only_a_2xx_answer_comes_back(server, make_client):
    server.inject(EchoFault(503, times=2))
    session = session_for(make_client(server.origin + "/v1"))
    assert session.post(server.origin + "/v1/echo", json={"a": 1}).json() == {"echo": {"a": 1}}
    assert server.statuses() == [503, 503, 200]


@pytest.mark.parametrize("status, kind", [(400, "status"), (503, "failed"), (429, "failed")])
def test_other_outcomes_raise_http_error_which_no_requests_retry_loop_catches(server, make_client, status, kind):
    server.inject(EchoFault(status, times=None))
    session = session_for(make_client(server.origin + "/v1", retry=RetryPolicy(2, 0.01, 0.01)))
    with pytest.raises(HttpError) as caught:
        session.post(server.origin + "/v1/echo", json={})
    assert caught.value.kind == kind and caught.value.status == status
    assert not isinstance(caught.value, (requests.RequestException, ConnectionError))
    assert len(server.seen()) == (1 if status == 400 else 2)


def test_a_dripping_answer_ends_at_the_whole_request_deadline(make_client):
    with DripServer(interval=0.05) as server:
        session = session_for(make_client(server.origin, timeout=0.4, retry=RetryPolicy(1, 0, 0)))
        started = time.monotonic()
        with pytest.raises(HttpError, match=r"failed after 1 try: did not answer within 0.4 s"):
            session.post(server.origin + "/x", json={})
        assert time.monotonic() - started < 2


def test_abort_from_another_thread_stops_a_held_request(make_client):
    with DripServer(interval=3600) as server:
        client = make_client(server.origin, timeout=0)
        session = session_for(client)
        held, outcome = in_thread(lambda: session.post(server.origin + "/x", json={}))
        assert server.started.wait(5)
        client.abort()
        held.join(2)
        assert not held.is_alive() and isinstance(outcome["error"], HttpError) and outcome["error"].kind == "stopped"


def test_a_request_for_another_origin_is_refused_without_a_connection(server, make_client):
    session = session_for(make_client(server.origin + "/v1"))
    for url in ("http://127.0.0.1:1/v1/echo?api_key=sekrit_0123456789", server.origin + "/v2/echo"):
        with pytest.raises(HttpError, match="is outside") as caught:
            session.post(url, json={})
        assert_no_secret("sekrit_0123456789", str(caught.value))
    assert server.seen() == []
