from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from segkit.plugins.host import get_host
from segkit.plugins.segmenter import Segmenter
from segkit_roboflow.options import RoboflowOptions
from segkit_roboflow.testing import RoboflowTestServer

# Short waits everywhere (also used by the tests' own option sets): the loopback server answers in milliseconds.
FAST = {"timeout": 5.0, "max_tries": 3, "backoff": 0.02, "max_backoff": 0.1}


@pytest.fixture
def server() -> Iterator[RoboflowTestServer]:
    with RoboflowTestServer() as running:
        yield running


@pytest.fixture
def make_segmenter(server: RoboflowTestServer) -> Iterator[Callable[..., Segmenter]]:
    """``make_segmenter(name, **options)``: a loaded roboflow-* segmenter pointed at ``server``."""
    made: list[Segmenter] = []

    def make(name: str = "roboflow-sam2-tiny", **overrides: Any) -> Segmenter:
        values = {"api_url": server.url, "api_key": server.api_key, **FAST, **overrides}
        segmenter = get_host().backend(name).create(RoboflowOptions(**values))
        segmenter.load()
        made.append(segmenter)
        return segmenter

    yield make
    for segmenter in made:
        segmenter.close()
