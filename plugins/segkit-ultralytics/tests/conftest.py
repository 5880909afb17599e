from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """Tests that call Ultralytics directly let its select_device('cpu') change torch's thread count for the
    whole process (segkit's backend undoes that itself); put it back so later tests run at full speed."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
