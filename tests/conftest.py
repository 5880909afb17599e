from __future__ import annotations

import pytest

from cli_helpers import Cli


@pytest.fixture
def cli(tmp_path) -> Cli:
    """Empty images/ and dets/ folders in a temporary folder, and `segkit` to run on them."""
    return Cli(tmp_path)
