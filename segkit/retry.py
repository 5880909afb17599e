"""How remote plugins wait between tries: exponential backoff with jitter, at least the server's
Retry-After. No HTTP client here: each plugin brings its own and decides what to retry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 3
    backoff: float = 1.0
    max_backoff: float = 20.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based): an exponential step with
        "equal jitter" (half of it fixed, half random), and never less than Retry-After (both capped)."""
        step = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        wait = step / 2 + rng.uniform(0.0, step / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds; None when absent or an HTTP date (our own backoff applies)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def status_text(code: int) -> str:
    """``HTTP 429 Too Many Requests``."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"
