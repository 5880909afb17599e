from __future__ import annotations

import pytest
from cli_helpers import Cli
from cluster_helpers import ray_cluster, s3_server  # noqa: F401  (session fixtures: a local Ray, a local S3)


@pytest.fixture(autouse=True)
def _no_html_unless_asked(monkeypatch):
    """report.html (plots, pictures: about half a second per run) is tested in test_html_report.py, which asks
    for it with --html; the other tests run with SEGKIT_HTML=0 so that they stay fast."""
    monkeypatch.setenv("SEGKIT_HTML", "0")


@pytest.fixture
def cli(tmp_path) -> Cli:
    """Empty images/ and dets/ folders in a temporary folder, and `segkit` to run on them."""
    return Cli(tmp_path)
