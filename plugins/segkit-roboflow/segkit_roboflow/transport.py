"""Calling the Roboflow API through inference-sdk: the client, a request timeout, bounded retries.

What the SDK (1.8) does on its own, and what this module adds:

* It sets no timeout: a stalled server blocks a worker forever. Each request here gets a
  (connect, read) timeout through the requests session the SDK keeps per thread.
* It retries 429, 503 and 504 answers and connection errors itself: 3 tries, a random 0-1 s apart
  (``backoff.constant(interval=1)`` with backoff's default full jitter), never growing, ignoring
  Retry-After, and not at all on 500, 502, read timeouts or bodies that are not JSON.
* Around each SDK call this module tries up to ``max_tries`` times on 429, 408, every 5xx but 501,
  timeouts, connection errors and bodies that are not JSON, waiting an exponentially growing, jittered
  delay (at least the server's Retry-After, up to ``max_backoff``).
* 401 and 403 (bad key), 402 and 423 (billing), 404 (wrong api_url), 501 and every other 4xx are not
  retried: they raise BackendFatalError, which ends the run with one line. 413 (image too large) fails
  that image only. An image whose requests keep failing raises ImageFailed and the run goes on.

Every message is passed through segkit's redaction: the SDK puts the request URL, which carries the
key on Roboflow-hosted URLs, into its error strings, and 422 bodies echo the request body.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import requests

from segkit.errors import BackendFatalError, ImageFailed
from segkit.redact import redact
from segkit.retry import RetryPolicy, retry_after_seconds, status_text

from segkit_roboflow.options import KEY_ENV, RoboflowOptions, api_host

log = logging.getLogger("segkit_roboflow")

FailureKind = Literal["retry", "image", "fatal"]
CONNECT_TIMEOUT_CAP = 10.0
DETAIL_LIMIT = 300


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    retry_after: float | None = None


def summarize_api_message(message: Any) -> str:
    """The server's own words, short: a 422's field errors without their echoed input, else the text."""
    if isinstance(message, list):
        parts = []
        for entry in message[:3]:
            if isinstance(entry, dict):
                where = ".".join(str(p) for p in entry.get("loc", []))
                parts.append(f"{where}: {entry.get('msg', '')}".strip(": "))
        if len(message) > 3:
            parts.append(f"and {len(message) - 3} more")
        text = "; ".join(parts)
    elif isinstance(message, dict):
        text = str(message.get("message") or message.get("detail") or "")
    elif message is None:
        text = ""
    else:
        text = str(message)
        if text.lstrip().startswith("<"):  # an HTML error page from a proxy says nothing useful
            text = ""
    text = " ".join(text.split())
    if text == "N/A":
        text = ""
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 3] + "..."


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc.__cause__, "response", None) or getattr(exc, "response", None)
    return retry_after_seconds(getattr(response, "headers", {}).get("Retry-After") if response is not None else None)


class RoboflowTransport:
    """One InferenceHTTPClient for a backend, and the retry loop around each of its calls."""

    def __init__(self, backend: str, options: RoboflowOptions, api_key: str, endpoint: str,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        self.backend = backend
        self.options = options
        self.endpoint = endpoint
        self.host = api_host(options.api_url)
        self.policy = RetryPolicy(options.max_tries, options.backoff, options.max_backoff)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._api_key = api_key
        self._timeout = (min(options.timeout, CONNECT_TIMEOUT_CAP), options.timeout) if options.timeout > 0 else None
        self._client: Any = None
        self._sessions: Any = None  # the SDK's per-thread session holder
        self._fatal: str | None = None
        self._fatal_lock = threading.Lock()

    # -- setup -----------------------------------------------------------------------------------

    def open(self) -> None:
        from inference_sdk import InferenceConfiguration, InferenceHTTPClient
        from inference_sdk.http.utils import executors

        if self._timeout is not None:
            holder = getattr(executors, "_REQUESTS_SESSION_LOCAL", None)
            if holder is None or not callable(getattr(executors, "_get_thread_local_requests_session", None)):
                raise BackendFatalError(
                    f"{self.backend}: this inference-sdk version has no per-thread session to put a request"
                    " timeout on; install inference-sdk 1.8.x, or run without a timeout (-O roboflow.timeout=0)"
                )
            self._sessions = holder
        client = InferenceHTTPClient(api_url=self.options.api_url, api_key=self._api_key)
        mode = self.options.api_key_transport
        client.configure(InferenceConfiguration(api_key_transport="header" if mode == "header" else "legacy"))
        if mode == "query":
            client.select_api_v0()
        elif mode == "body":
            client.select_api_v1()
        self._client = client

    def close(self) -> None:
        self._client = None

    def _use_timeout_session(self) -> None:
        """Give this thread's SDK session our timeout (the SDK sends one-image calls from the caller's thread)."""
        if self._timeout is None:
            return
        current = getattr(self._sessions, "session", None)
        if getattr(current, "segkit_timeout", None) == self._timeout:
            return
        if current is not None:
            current.close()
        self._sessions.session = TimeoutSession(self._timeout)

    # -- calls -----------------------------------------------------------------------------------

    def call(self, send: Callable[[Any], Any]) -> dict:
        """Run ``send(client)`` with retries; return its JSON object or raise ImageFailed/BackendFatalError."""
        if self._client is None:
            raise BackendFatalError(f"{self.backend}: used before load()")
        attempt = 0
        while True:
            attempt += 1
            self._raise_if_fatal()
            self._use_timeout_session()
            try:
                answer = send(self._client)
            except Exception as exc:  # classified below; anything unknown fails the image, not the run
                failure = self.classify(exc)
            else:
                if isinstance(answer, dict):
                    return answer
                failure = Failure("image", f"the API answered with a JSON {type(answer).__name__}, not an object")
            if failure.kind == "fatal":
                raise self._set_fatal(failure.message)
            # (segkit prefixes an image's failure with the backend and image names; a fatal error it
            # shows as is, so that one names the backend itself)
            if failure.kind == "image":
                raise ImageFailed(redact(f"{self.endpoint}: {failure.message}"))
            if attempt >= self.policy.max_tries:
                raise ImageFailed(redact(
                    f"{self.endpoint} at {self.host} failed after {attempt} "
                    f"{'try' if attempt == 1 else 'tries'}: {failure.message}"
                ))
            wait = self.policy.delay(attempt, self.rng, failure.retry_after)
            log.info(redact(f"{self.backend}: {failure.message}; try {attempt + 1} of {self.policy.max_tries} in {wait:.2f} s"))
            self.sleep(wait)

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise BackendFatalError(self._fatal)

    def _set_fatal(self, message: str) -> BackendFatalError:
        with self._fatal_lock:
            if self._fatal is None:
                self._fatal = redact(f"{self.backend}: {message}")
            return BackendFatalError(self._fatal)

    def classify(self, exc: BaseException) -> Failure:
        """What a failed SDK call means: retry it, fail this image, or stop the run."""
        from inference_sdk.http.errors import HTTPCallErrorError, HTTPClientError, HTTPServerConnectionError

        if isinstance(exc, HTTPCallErrorError):
            return self._classify_status(exc.status_code, summarize_api_message(exc.api_message), _retry_after(exc))
        if isinstance(exc, requests.exceptions.Timeout):  # the SDK lets read timeouts through unwrapped
            return Failure("retry", f"no answer within {self.options.timeout:g} s (raise -O roboflow.timeout=SECONDS)")
        if isinstance(exc, (HTTPServerConnectionError, requests.exceptions.ConnectionError, ConnectionError)):
            return Failure("retry", f"cannot connect to {self.host} ({_connection_reason(exc)}); check api_url and the network")
        if isinstance(exc, (requests.exceptions.JSONDecodeError, json.JSONDecodeError)):
            return Failure("retry", "the API answered with a body that is not valid JSON")
        if isinstance(exc, requests.exceptions.RequestException):
            return Failure("retry", f"the request failed ({_short(exc)})")
        if isinstance(exc, HTTPClientError):
            return Failure("image", f"inference-sdk refused the request ({_short(exc)})")
        return Failure("image", f"{type(exc).__name__}: {_short(exc)}")

    def _classify_status(self, code: int, detail: str, retry_after: float | None) -> Failure:
        said = f"{status_text(code)}" + (f": {detail}" if detail else "")
        if code in (401, 403):
            said = status_text(code) + (f": {_first_sentence(detail)}" if detail else "")
            return Failure("fatal", f"{self.host} refused the API key ({said}); {_key_hint()}")
        if code in (402, 423):
            return Failure("fatal", f"{self.host} refused the request ({said}); check the workspace's billing and API usage")
        if code == 404:
            return Failure("fatal", f"{self.endpoint} was not found at {self.host} ({said}); check api_url"
                                    " (-O roboflow.api_url=URL): the hosted API, a local inference server or a dedicated deployment")
        if code == 413:
            return Failure("image", f"the image is too large for the API ({said})")
        if code in (408, 429) or (500 <= code <= 599 and code != 501):
            return Failure("retry", said, retry_after)
        if code == 501:
            return Failure("fatal", f"{self.host} does not implement {self.endpoint} ({said})")
        return Failure("fatal", f"{self.host} rejected the request ({said}); the API may have changed, please report"
                                " this with segkit-roboflow's and inference-sdk's versions")


def _key_hint() -> str:
    return f"check the key in {KEY_ENV} (or options.roboflow.api_key)"


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head if dot else text


def _connection_reason(exc: BaseException) -> str:
    """Why a connection failed, without the URL: the SDK's own message masks the key by cutting off
    everything after ``api_key=``, the cause included, so read the underlying requests error."""
    current: BaseException | None = exc
    for _ in range(6):
        if current is None or isinstance(current, requests.exceptions.ConnectionError):
            break
        current = current.__cause__ or current.__context__
    if current is None:
        return _short(exc)
    inner = current.args[0] if current.args else current
    reason = getattr(inner, "reason", None) or inner
    args = getattr(reason, "args", ())
    if len(args) == 2 and isinstance(args[1], BaseException):  # ProtocolError('Connection aborted.', RemoteDisconnected(...))
        reason = args[1]
    text = str(reason)
    if "): " in text:  # urllib3 prefixes "HTTPConnection(host=..., port=...): "
        text = text.split("): ", 1)[1]
    return _short(Exception(text)) if text.strip() else type(reason).__name__


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 3] + "..."


class TimeoutSession(requests.Session):
    """A requests session that applies a default (connect, read) timeout to every request."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self.segkit_timeout = timeout

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.segkit_timeout
        return super().request(method, url, *args, **kwargs)
