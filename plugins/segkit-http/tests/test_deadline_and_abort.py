"""The whole-request deadline (a server that drips its answer ends at it), abort() from another thread,
and a server that is not there, found at the start in one line."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from segkit import ConfigError, RetryPolicy
from segkit_http import HttpError
from segkit_http.testing import DripServer, EchoFault, closed_port, in_thread

ONCE = RetryPolicy(max_tries=1, backoff=0, max_backoff=0)


def test_a_server_that_drips_its_answer_ends_at_the_deadline(make_client):
    # A byte every 0.05 s: a timeout per socket read (0.5 s) never fires; the answer would take 5 s.
    with DripServer(interval=0.05) as server:
        client = make_client(server.origin, timeout=0.5, retry=RetryPolicy(2, 0.01, 0.01))
        with pytest.raises(HttpError) as caught:
            client.post_json("/chat", {})
    assert str(caught.value) == (f"{server.origin}/chat failed after 2 tries: did not answer within 0.5 s"
                                 " (timeout: raise it with -O test.timeout=SECONDS)")
    assert caught.value.kind == "failed" and server.requests == 2


def test_a_dripping_answer_within_the_deadline_is_read_whole(make_client):
    with DripServer(interval=0.001, body={"ok": True}) as server:
        assert make_client(server.origin, timeout=30).post_json("/x", {}) == {"ok": True}


@contextmanager
def full_listener() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: a connect to it waits (the SYN is
    dropped), like a server behind a firewall that drops packets."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the accept queue (its length is the backlog plus one or two)
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            time.sleep(0.2)
            yield port
        finally:
            for filler in fillers:
                filler.close()


def test_a_connect_that_hangs_ends_at_the_deadline_and_is_refused_at_the_start(make_client):
    with full_listener() as port:
        client = make_client(f"http://127.0.0.1:{port}", timeout=0.5, retry=ONCE)
        with pytest.raises(HttpError, match=r"failed after 1 try: did not answer within 0.5 s"):
            client.post_json("/x", {})
        with pytest.raises(ConfigError) as caught:
            client.check_reachable(within=0.3)
    assert str(caught.value) == (f"test: cannot connect to http://127.0.0.1:{port} (no answer within 0.3 s); check --api-url"
                                 " and that the server runs and is reachable from here")


def test_abort_from_another_thread_stops_a_held_request_at_once(make_client):
    with DripServer(interval=3600) as server:  # holds the request for an hour
        client = make_client(server.origin, timeout=0)  # and no deadline
        thread, outcome = in_thread(lambda: client.post_json("/x", {}))
        assert server.started.wait(10)
        started = time.monotonic()
        client.abort()
        thread.join(2)
        assert not thread.is_alive() and time.monotonic() - started < 2
    error = outcome["error"]
    assert isinstance(error, HttpError) and (error.kind, str(error)) == ("stopped", "test: stopped")
    with pytest.raises(HttpError, match="test: stopped"):  # and every later request, without a connection
        client.post_json("/x", {})
    assert server.requests == 1


def test_abort_stops_a_connect_that_hangs(make_client):
    with full_listener() as port:
        client = make_client(f"http://127.0.0.1:{port}", timeout=0)
        thread, outcome = in_thread(lambda: client.post_json("/x", {}))
        time.sleep(0.3)
        client.abort()
        thread.join(2)
        assert not thread.is_alive() and outcome["error"].kind == "stopped"


def test_abort_ends_the_wait_between_tries(server, make_client):
    server.inject(EchoFault(503, retry_after=600, times=None))
    client = make_client(server.origin + "/v1", retry=RetryPolicy(3, 600, 600))
    thread, outcome = in_thread(lambda: client.post_json("/echo", {}))
    while not server.seen():
        time.sleep(0.01)
    client.abort()
    thread.join(2)
    assert not thread.is_alive() and outcome["error"].kind == "stopped" and len(server.seen()) == 1


def test_abort_with_an_error_raises_that_error_everywhere(make_client):
    with DripServer(interval=3600) as server:
        client = make_client(server.origin, timeout=0)
        threads = [in_thread(lambda: client.post_json("/x", {})) for _ in range(3)]
        while server.requests < 3:
            time.sleep(0.01)
        client.abort(ConfigError("test: the server refused the key; check TEST_KEY"))
        for thread, outcome in threads:
            thread.join(2)
            assert isinstance(outcome["error"], ConfigError) and str(outcome["error"]) == "test: the server refused the key; check TEST_KEY"
        assert len({id(outcome["error"]) for _, outcome in threads}) == 3  # a copy each: no shared traceback


def test_nobody_listening_is_one_line_at_the_start(make_client):
    port = closed_port()
    with pytest.raises(ConfigError) as caught:
        make_client(f"http://127.0.0.1:{port}/v1").check_reachable()
    assert str(caught.value) == (f"test: cannot connect to http://127.0.0.1:{port}/v1 (Connection refused); check --api-url"
                                 " and that the server runs and is reachable from here")


def test_nobody_listening_later_is_tried_again_and_fails_in_one_line(make_client):
    port = closed_port()
    with pytest.raises(HttpError) as caught:
        make_client(f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(2, 0.01, 0.01)).post_json("/echo", {})
    assert str(caught.value) == (f"http://127.0.0.1:{port}/v1/echo failed after 2 tries: cannot connect (Connection refused);"
                                 " check --api-url and that the server runs")


def test_a_reachable_server_passes(server, make_client):
    make_client(server.origin + "/v1").check_reachable()
    assert server.seen() == []  # nothing was sent
