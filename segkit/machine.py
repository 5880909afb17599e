"""What this machine offers segkit's own work."""

from __future__ import annotations

import os


def machine_cores() -> int:
    """CPU cores this process may run on (a container's or a job's share, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
