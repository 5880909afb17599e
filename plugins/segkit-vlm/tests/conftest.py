from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from segkit.plugins.host import get_host
from segkit_vlm.options import VlmOptions
from segkit_vlm.testing import ChatCompletionsTestServer

# Short waits everywhere: the loopback server answers in milliseconds.
FAST = {"timeout": 5.0, "max_tries": 3, "backoff": 0.01, "max_backoff": 0.05}


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
        values = {"model": server.model, "api_url": server.url, **FAST, **overrides}
        detector = get_host().detector("vlm").create(VlmOptions(**values))
        detector.load()
        made.append(detector)
        return detector

    yield make
    for detector in made:
        detector.close()
