"""Posting chat completions with requests: a (connect, read) timeout, bounded retries with backoff.

* 429, 408 and every 5xx but 501, timeouts, connection errors and bodies that are not JSON are tried
  again, up to ``max_tries``, after an exponentially growing, jittered delay that is at least the
  server's Retry-After (``segkit.retry.RetryPolicy``, as the Roboflow plugin waits).
* 401 and 403 (the key), 404 (the model or the URL) and the other 4xx but 400, 413 and 422 are the
  user's settings: ``ConfigError`` stops the run (exit 2) in one line, and every thread stops with it.
  400, 413 and 422 (an image too large, a prompt too long) fail that image only. An image whose tries
  all fail raises ImageFailed and the run goes on.
* The key is sent as ``Authorization: Bearer``; it is never put in a message, and a 401's own text is
  not repeated (OpenAI's repeats part of the key). Every message passes through segkit's redaction.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

from segkit.errors import BackendFatalError, ConfigError, ImageFailed
from segkit.redact import redact
from segkit.retry import RetryPolicy, retry_after_seconds, status_text

from segkit_vlm.options import VlmOptions, api_host
from segkit_vlm.wire import error_code, error_detail

log = logging.getLogger("segkit_vlm")

ENDPOINT = "/chat/completions"
CONNECT_TIMEOUT_CAP = 10.0
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
FailureKind = Literal["retry", "image", "settings", "fatal"]


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    retry_after: float | None = None


class ChatTransport:
    """One requests session per worker thread, and the retry loop around each request."""

    def __init__(self, detector: str, options: VlmOptions, api_key: str | None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        self.detector = detector
        self.options = options
        self.url = options.api_url + ENDPOINT
        self.where = api_host(options.api_url) + ENDPOINT
        self.policy = RetryPolicy(options.max_tries, options.backoff, options.max_backoff)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._api_key = api_key
        self._timeout = (min(options.timeout, CONNECT_TIMEOUT_CAP), options.timeout) if options.timeout > 0 else None
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._stopped: Exception | None = None
        self._requests: Any = None

    def open(self) -> None:
        import requests

        self._requests = requests

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    # -- one request, tried again as needed ---------------------------------------------------------

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a chat completion request; its JSON object, or ImageFailed / ConfigError / BackendFatalError."""
        if self._requests is None:
            raise BackendFatalError(f"{self.detector}: used before load()")
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempt = 0
        while True:
            attempt += 1
            if self._stopped is not None:
                raise self._stopped
            answer = self._once(data, headers)
            if isinstance(answer, dict):
                return answer
            failure = answer
            if failure.kind in ("settings", "fatal"):
                raise self._stop(failure)
            if failure.kind == "image":
                raise ImageFailed(redact(f"{self.detector}: {failure.message}"))
            if attempt >= self.policy.max_tries:
                raise ImageFailed(redact(
                    f"{self.detector}: {self.where} failed after {attempt} {'try' if attempt == 1 else 'tries'}: {failure.message}"
                ))
            wait = self.policy.delay(attempt, self.rng, failure.retry_after)
            log.info(redact(f"{self.detector}: {failure.message}; try {attempt + 1} of {self.policy.max_tries} in {wait:.2f} s"))
            self.sleep(wait)

    def _stop(self, failure: Failure) -> Exception:
        """The error that ends the run; every thread raises the first one from its next try on."""
        with self._lock:
            if self._stopped is None:
                message = redact(f"{self.detector}: {failure.message}")
                self._stopped = ConfigError(message) if failure.kind == "settings" else BackendFatalError(message)
            return self._stopped

    def _once(self, data: bytes, headers: dict[str, str]) -> dict[str, Any] | Failure:
        requests = self._requests
        try:
            with self._session().post(self.url, data=data, headers=headers, timeout=self._timeout, stream=True) as response:
                body = _read_capped(response, MAX_RESPONSE_BYTES)
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        except requests.exceptions.Timeout:
            return Failure("retry", f"no answer within {self.options.timeout:g} s (raise -O vlm.timeout=SECONDS)")
        except requests.exceptions.ConnectionError as exc:
            return Failure("retry", f"cannot connect to {self.where} ({_connection_reason(exc)}); check --api-url and that the server runs")
        except requests.exceptions.RequestException as exc:
            return Failure("retry", f"the request failed ({_short(exc)})")
        except _TooLarge:
            return Failure("image", f"{self.where} answered with more than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB")
        if status == 200:
            try:
                answer = json.loads(body)
            except ValueError:
                return Failure("retry", "the server answered with a body that is not JSON")
            if not isinstance(answer, dict):
                return Failure("image", f"the server answered with a JSON {type(answer).__name__}, not an object")
            return answer
        return self.classify(status, body, retry_after)

    def classify(self, status: int, body: bytes, retry_after: float | None) -> Failure:
        """What an HTTP error means: try again, fail this image, or stop (the user's settings, the server)."""
        said = status_text(status)
        detail = error_detail(body)
        if status in (401, 403):
            code = error_code(body)
            said += f" ({code})" if code else ""
            env = self.options.api_key_env
            if self._api_key:
                return Failure("settings", f"{self.where} refused the API key ({said}); check the key in {env}")
            return Failure("settings", f"{self.where} asks for an API key ({said}); set {env}, or name the variable"
                                       " that holds it with --api-key-env")
        said += f": {detail}" if detail else ""
        if status == 404:
            return Failure("settings", f"{self.where} answered {said}; check --model {self.options.model!r} (the server's"
                                       " name for the model) and --api-url (most servers want it to end in /v1)")
        if status in (400, 413, 422):
            return Failure("image", f"{self.where} refused the request for this image ({said})")
        if status in (408, 429) or (500 <= status <= 599 and status != 501):
            return Failure("retry", said, retry_after)
        if status == 501:
            return Failure("fatal", f"{self.where} does not implement chat completions ({said})")
        return Failure("settings", f"{self.where} rejected the request ({said}); check --api-url")


class _TooLarge(Exception):
    pass


def _read_capped(response: Any, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _connection_reason(exc: BaseException) -> str:
    """Why a connection failed, without urllib3's "HTTPConnectionPool(host=..., port=...): " preamble."""
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", None) or inner
    args = getattr(reason, "args", ())
    if len(args) == 2 and isinstance(args[1], BaseException):  # ProtocolError('Connection aborted.', RemoteDisconnected(...))
        reason = args[1]
    text = str(reason)
    if "): " in text:
        text = text.split("): ", 1)[1]
    return _short(Exception(text)) if text.strip() else type(reason).__name__


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
