"""The one error type of segkit-http, and the short, redacted words that go into it.

Every text that may reach a user passes ``shorten``: secrets are masked first, then the text is cut, so a
cut never leaves a piece of a key behind.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
from typing import Any, Literal

from segkit import redact

DETAIL_LIMIT = 300
Kind = Literal["status", "failed", "answer", "stopped"]


class HttpError(Exception):
    """A request that failed. ``str(error)`` is one line (what, where, how to fix), secrets masked.

    ``kind`` says what happened: ``status``, the server answered a status that trying again will not
    change (``status``, the server's words ``detail`` and its ``body`` are set, secrets masked); ``failed``, every try failed
    (timeouts, connection errors, 429 or 5xx: the last reason); ``answer``, a 2xx answer that is not a
    JSON object or is too large; ``stopped``, the client was aborted.
    """

    def __init__(self, message: str, *, kind: Kind = "failed", status: int | None = None, detail: str = "",
                 body: bytes = b"", retry_after: float | None = None):
        super().__init__(shorten(message, limit=1000))
        self.kind = kind
        self.status = status
        self.detail = detail
        self.body = body
        self.retry_after = retry_after


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` on one line, secrets masked, then cut to ``limit`` characters."""
    text = redact(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def server_words(body: Any, limit: int = DETAIL_LIMIT) -> str:
    """The server's own words about an error, short: OpenAI's ``{"error": {"message"}}``, vLLM's and
    Roboflow's ``{"message"}``, FastAPI's ``{"detail"}`` (a 422's field errors without the input they
    echo), or plain text; nothing for an HTML page from a proxy."""
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body[: 64 * 1024]).decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    if isinstance(body, dict):
        error = body.get("error")
        source = error if isinstance(error, dict) else body
        said = source.get("message") or source.get("detail") or (error if isinstance(error, str) else "")
        text = _field_errors(said) if isinstance(said, list) else str(said or "")
    elif isinstance(body, str):
        text = "" if body.lstrip().startswith("<") else body
    else:
        text = ""
    return "" if text.strip() == "N/A" else shorten(text, limit)


def _field_errors(errors: list) -> str:
    parts = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}".strip(": ")
             for e in errors[:3] if isinstance(e, dict)]
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


def reason_of(exc: BaseException) -> str:
    """Why a connection failed, in a few words and without the URL: ``Connection refused``."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the answer stopped after {len(exc.partial)} bytes"
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:
        return exc.strerror or os.strerror(exc.errno)
    return shorten(str(exc) or type(exc).__name__, 200)
