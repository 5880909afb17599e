"""Every registered backend, built-in or plugin, honours the segmenter contract.

Backends whose plugin is installed are checked for real: plugins that need weights or a server make
them offline through ``<package>.testing.offline_segmenter`` (random-weight checkpoints, a loopback
server). This is the same check segkit ships to plugin authors as ``segkit.testing``; each plugin also runs
the whole ``SegmenterContract`` suite on its backends, as the core's mock does here.
"""

from __future__ import annotations

import pytest

from segkit.plugins.host import get_host
from segkit.testing import SegmenterContract, check_segmenter_contract, offline_segmenter

BACKENDS = sorted(name for name, entry in get_host().backends().items() if entry.kind == "box")


class TestMockContract(SegmenterContract):
    """The core's own backends run the suite every plugin runs (segkit.testing.contract)."""

    backend = "mock"


class TestMockEllipseContract(SegmenterContract):
    backend = "mock-ellipse"


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_honours_the_contract(name, tmp_path):
    entry = get_host().backend(name)
    with offline_segmenter(entry, tmp_path) as segmenter:
        segmenter.load()
        try:
            check_segmenter_contract(segmenter)
        finally:
            segmenter.close()
