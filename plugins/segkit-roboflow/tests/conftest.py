from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import segkit
from segkit_http.testing import FAST_RETRIES
from segkit_roboflow.testing import RoboflowTestServer

# Short waits everywhere (also used by the tests' own option sets): the loopback server answers in milliseconds.
FAST = {**FAST_RETRIES, "backoff": 0.02, "max_backoff": 0.1}


@pytest.fixture
def server() -> Iterator[RoboflowTestServer]:
    with RoboflowTestServer() as running:
        yield running


@pytest.fixture
def make_segmenter(server: RoboflowTestServer) -> Iterator[Callable[..., segkit.Segmenter]]:
    """``make_segmenter(name, **options)``: a loaded roboflow-* segmenter pointed at ``server``."""
    made: list[segkit.Segmenter] = []

    def make(name: str = "roboflow-sam2-tiny", **overrides: Any) -> segkit.Segmenter:
        segmenter = segkit.get_backend(name, **{"api_url": server.url, "api_key": server.api_key, **FAST, **overrides})
        made.append(segmenter)
        return segmenter

    yield make
    for segmenter in made:
        segmenter.close()
