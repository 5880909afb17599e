from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import segkit
from segkit_http.testing import FAST_RETRIES
from segkit_vlm.testing import ChatCompletionsTestServer


@pytest.fixture
def server() -> Iterator[ChatCompletionsTestServer]:
    with ChatCompletionsTestServer() as running:
        yield running


@pytest.fixture
def make_detector(server, monkeypatch) -> Iterator[Callable[..., Any]]:
    """``make_detector(**options)``: a loaded vlm detector pointed at ``server``, with its key in OPENAI_API_KEY."""
    made = []
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)

    def make(**overrides: Any):
        detector = segkit.get_detector("vlm", **{"model": server.model, "api_url": server.url, **FAST_RETRIES, **overrides})
        made.append(detector)
        return detector

    yield make
    for detector in made:
        detector.close()
