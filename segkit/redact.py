"""Keeping secrets out of everything segkit prints or writes.

Plugins call ``register_secret(value)`` for keys they hold; messages pass through ``redact`` before
they reach the terminal, a log or an output file. URL query parameters named like keys are masked too,
since HTTP libraries put the whole URL into their error messages.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_KEY_PARAM = re.compile(r"((?:api[_-]?key|access[_-]?token|token|key|secret)=)[^&\s'\"]+", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _KEY_PARAM.sub(lambda m: m.group(1) + MASK, text)
