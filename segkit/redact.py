"""Keeping secrets out of everything segkit prints or writes.

Plugins call ``register_secret(value)`` for keys they hold; messages pass through ``redact`` before
they reach the terminal, a log or an output file. URL query parameters named like keys and the
credentials of a URL (``https://user:password@host``) are masked too, since HTTP libraries put the
whole URL into their error messages and users paste keys into URLs.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_KEY_PARAM = re.compile(
    r"(?<![a-z0-9])((?:api[_-]?key|access[_-]?token|token|key|secret|password|passwd|pwd|auth|signature|sig)=)[^&\s'\"]+", re.IGNORECASE
)
# scheme://userinfo@ : the password of "user:password" is masked; a lone "token@" is masked whole.
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/?#\s'\"]+)@", re.IGNORECASE)


def _mask_userinfo(match: re.Match) -> str:
    user, sep, _password = match.group(2).partition(":")
    return f"{match.group(1)}{user}:{MASK}@" if sep else f"{match.group(1)}{MASK}@"


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact_secrets(text: str) -> str:
    """Only the registered secrets masked (for files: a label like ``key=value`` in the data stays as it is)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    return _KEY_PARAM.sub(lambda m: m.group(1) + MASK, text)
