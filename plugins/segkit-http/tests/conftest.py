from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from segkit import RetryPolicy
from segkit_http import HttpClient
from segkit_http.testing import EchoServer

FAST = RetryPolicy(max_tries=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with EchoServer() as running:
        yield running


@pytest.fixture
def make_client() -> Iterator[Callable[..., HttpClient]]:
    """``make_client(url, **settings)``: a client, aborted after the test."""
    made: list[HttpClient] = []

    def make(url: str, **settings: Any) -> HttpClient:
        values = {"url_option": "--api-url", "timeout_option": "-O test.timeout=SECONDS", "timeout": 5.0, "retry": FAST, **settings}
        client = HttpClient("test", url, **values)
        made.append(client)
        return client

    yield make
    for client in made:
        client.abort()
