"""A whole-request deadline: every socket operation of a request waits at most the time left."""

from __future__ import annotations

import socket
import time


class DeadlinePassed(TimeoutError):
    """The request's time is up (in connect, send or any read)."""


class Deadline:
    """``seconds`` from now; 0 or less: none (wait forever)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._at = time.monotonic() + seconds if seconds > 0 else None

    def left(self) -> float | None:
        """Seconds left (None: no deadline); DeadlinePassed when there are none."""
        if self._at is None:
            return None
        left = self._at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed()
        return left

    def arm(self, sock: socket.socket) -> None:
        """Let the next operation on ``sock`` wait only as long as the deadline allows."""
        sock.settimeout(self.left())
