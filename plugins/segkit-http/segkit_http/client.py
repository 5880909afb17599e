"""``HttpClient``: what a remote plugin needs from HTTP, in one place.

* A whole-request deadline (``timeout``): connect, send and every read of the answer wait at most the
  time left, so a server that drips bytes ends at the deadline like one that says nothing.
* Retries of 408, 429, every 5xx but 501, timeouts, lost connections and 2xx bodies that are not JSON,
  up to ``retry.max_tries``, after segkit's backoff (at least the server's Retry-After).
* At most ``concurrency`` requests in flight over all threads; one keep-alive connection per thread.
* ``abort()``: requests in flight and new ones fail at once (their sockets are shut down), from any
  thread; remote plugins call it in ``close()``, which segkit calls as soon as a run is interrupted.
* ``check_reachable()``: a TCP connect (nothing sent) for a plugin's ``load()``: a server that is not
  there is one ConfigError line before the first image, not a failure per image.
* One error type, ``HttpError``, whose text is one line with every registered secret masked.
"""

from __future__ import annotations

import copy
import http.client
import json
import logging
import os
import random
import socket
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlencode

from segkit import ConfigError, RetryPolicy, redact, register_secret, retry_after_seconds, status_text

from segkit_http.connection import Answer, ConnectFailed, Connection, TooLarge
from segkit_http.deadline import Deadline
from segkit_http.errors import HttpError, reason_of, server_words, shorten
from segkit_http.routes import route_for
from segkit_http.urls import Origin, api_host

log = logging.getLogger("segkit_http")

__version__ = "0.1.0"
USER_AGENT = f"segkit-http/{__version__}"
REACHABLE_WITHIN = 5.0


@dataclass(frozen=True)
class _Retry:
    """A try that failed in a way worth trying again."""

    reason: str
    retry_after: float | None = None
    status: int | None = None
    detail: str = ""


class HttpClient:
    """JSON over HTTP to one API for one plugin; thread-safe.

    ``name`` starts the messages that stand alone (``vlm: stopped``); ``url_option`` and
    ``timeout_option`` are what a user changes to fix the URL or the timeout (``--api-url``,
    ``-O vlm.timeout=SECONDS``); ``secrets`` are registered with segkit's redaction.
    """

    def __init__(self, name: str, api_url: str, *, url_option: str, timeout_option: str, timeout: float = 60.0,
                 retry: RetryPolicy = RetryPolicy(), concurrency: int = 4, secrets: Iterable[str | None] = (),
                 max_response_bytes: int = 64 * 1024 * 1024):
        for secret in secrets:
            register_secret(secret)
        self.name = name
        self.host = api_host(api_url)
        self.url_option = url_option
        self.timeout_option = timeout_option
        self.timeout = timeout
        self.retry = retry
        self.max_response_bytes = max_response_bytes
        self.rng = random.Random()
        self.sleep = self._pause  # the wait between tries (tests may watch it)
        self._origin = Origin.of(api_url)
        self._route = route_for(self._origin)
        self._tls_context = _tls_context() if self._origin.scheme == "https" else None
        self._slots = threading.BoundedSemaphore(concurrency)
        self._stopped = threading.Event()
        self._stop_error: BaseException | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._busy: set[Connection] = set()

    def where(self, path: str = "") -> str:
        """The API's URL for ``path``, safe to show: ``http://host:8000/v1/chat/completions``."""
        return self.host + path

    # -- requests ------------------------------------------------------------------------------------

    def post_json(self, path: str, body: Any, *, headers: Mapping[str, str] | None = None,
                  query: Mapping[str, str] | None = None) -> dict[str, Any]:
        """POST ``body`` as JSON to ``path`` (under the API's URL), tried again as needed; the answer's
        JSON object, or HttpError."""
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        sent = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        return self.exchange("POST", path, data, headers=sent, query=query).value

    def exchange(self, method: str, path: str, data: bytes, *, headers: Mapping[str, str],
                 query: Mapping[str, str] | str | None = None) -> Answer:
        """Send ``data`` with exactly ``headers`` to ``path`` (under the API's URL; ``query`` a mapping or
        an encoded query string), tried again as needed. The 2xx answer, whose body is a JSON object
        (``answer.value``), or HttpError: this is the whole policy, for callers that build the request
        themselves (``segkit_http.requests_adapter``)."""
        if isinstance(query, str):
            suffix = f"?{query}" if query else ""
        else:
            suffix = f"?{urlencode(query)}" if query else ""
        target = self._origin.base_path + path + suffix
        where = self.where(path)
        attempt = 0
        while True:
            attempt += 1
            outcome = self._try(method, where, target, headers, data)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= self.retry.max_tries:
                tries = "1 try" if attempt == 1 else f"{attempt} tries"
                raise HttpError(f"{where} failed after {tries}: {outcome.reason}", kind="failed",
                                status=outcome.status, detail=outcome.detail)
            wait = self.retry.delay(attempt, self.rng, outcome.retry_after)
            log.info(shorten(f"{self.name}: {outcome.reason}; try {attempt + 1} of {self.retry.max_tries} in {wait:.2f} s", 1000))
            self.sleep(wait)

    def _try(self, method: str, where: str, target: str, headers: Mapping[str, str], data: bytes) -> Answer | _Retry:
        self._raise_if_stopped()
        connection = self._connection()
        with self._slot(), self._in_flight(connection):
            try:
                answer = connection.exchange(method, target, headers, data, Deadline(self.timeout), self.max_response_bytes)
            except Exception as exc:  # sorted out below; what is not a network failure propagates
                if self._stopped.is_set():
                    raise self._stop_copy() from None
                return self._network_failure(where, exc)
        return self._judge(where, answer)

    def _network_failure(self, where: str, exc: Exception) -> _Retry:
        if isinstance(exc, TimeoutError):
            return _Retry(f"did not answer within {self.timeout:g} s (timeout: raise it with {self.timeout_option})")
        if isinstance(exc, TooLarge):
            raise HttpError(f"{where} answered with more than {self.max_response_bytes // (1024 * 1024)} MB", kind="answer") from None
        if isinstance(exc, ConnectFailed):
            cause = exc.__cause__ or exc
            target = f" to {self._route.where}" if self._route.via_proxy else ""
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise HttpError(f"{where}: its TLS certificate was not accepted ({cause.verify_message}); check {self.url_option},"
                                " or name your CA bundle in SSL_CERT_FILE", kind="failed") from None
            return _Retry(f"cannot connect{target} ({reason_of(cause)}); check {self.url_option} and that the server runs")
        if isinstance(exc, (OSError, http.client.HTTPException)):
            return _Retry(f"the connection broke ({reason_of(exc)})")
        if isinstance(exc, ValueError):  # http.client refusing a header value (a key with a line break, say)
            raise HttpError(f"{where}: the request cannot be sent ({exc})", kind="failed") from None
        raise exc

    def _judge(self, where: str, answer: Answer) -> Answer | _Retry:
        status = answer.status
        if 200 <= status < 300:
            try:
                value = json.loads(answer.body)
            except ValueError:
                return _Retry("the answer is not JSON")
            if not isinstance(value, dict):
                raise HttpError(f"{where} answered with a JSON {type(value).__name__}, not an object", kind="answer")
            answer.value = value
            return answer
        detail = server_words(answer.body)
        said = status_text(status) + (f": {detail}" if detail else "")
        retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
        if status in (408, 429) or (500 <= status <= 599 and status != 501):
            return _Retry(said, retry_after, status, detail)
        body = redact(answer.body[: 64 * 1024].decode("utf-8", "replace")).encode("utf-8")
        raise HttpError(f"{where} answered {said}", kind="status", status=status, detail=detail, body=body,
                        retry_after=retry_after)

    # -- before the first request --------------------------------------------------------------------

    def check_reachable(self, within: float = REACHABLE_WITHIN) -> None:
        """Connect to the API's host and port (the proxy's, with one set) and hang up; nothing is sent.
        ConfigError in one line when nothing accepts the connection."""
        route = self._route
        wait = min(within, self.timeout) if self.timeout > 0 else within
        try:
            with socket.create_connection((route.connect_host, route.connect_port), timeout=wait):
                pass
        except OSError as exc:
            reason = f"no answer within {wait:g} s" if isinstance(exc, TimeoutError) else reason_of(exc)
            target = route.where if route.via_proxy else self.host
            raise ConfigError(shorten(f"{self.name}: cannot connect to {target} ({reason}); check {self.url_option}"
                                      " and that the server runs and is reachable from here", 1000)) from None

    # -- stopping ------------------------------------------------------------------------------------

    def abort(self, error: BaseException | None = None) -> None:
        """Stop, from any thread: requests in flight fail at once (their sockets are shut down), and so
        does every later one, with ``error`` (by default HttpError ``<name>: stopped``, kind ``stopped``).
        The first call's error stays. Connections are closed."""
        with self._lock:
            if self._stop_error is None:
                self._stop_error = error if error is not None else HttpError(f"{self.name}: stopped", kind="stopped")
            self._stopped.set()
            busy = list(self._busy)
            idle = [c for c in self._connections if c not in self._busy]
            self._connections = busy
        for connection in busy:
            connection.shutdown()
        for connection in idle:
            connection.close()

    def _raise_if_stopped(self) -> None:
        if self._stopped.is_set():
            raise self._stop_copy()

    def _stop_copy(self) -> BaseException:
        """The stop error, a fresh copy per thread (one exception object raised in several threads at once
        would collect all their tracebacks)."""
        return copy.copy(self._stop_error)

    def _pause(self, seconds: float) -> None:
        self._stopped.wait(seconds)
        self._raise_if_stopped()

    @contextmanager
    def _slot(self) -> Iterator[None]:
        while not self._slots.acquire(timeout=0.1):
            self._raise_if_stopped()
        try:
            yield
        finally:
            self._slots.release()

    @contextmanager
    def _in_flight(self, connection: Connection) -> Iterator[None]:
        with self._lock:
            self._busy.add(connection)
            if connection not in self._connections:
                self._connections.append(connection)
        try:
            self._raise_if_stopped()  # an abort() that came before this request was seen as busy
            yield
        finally:
            with self._lock:
                self._busy.discard(connection)

    def _connection(self) -> Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = Connection(self._route, self._stopped, lambda: self._tls_context)
            self._local.connection = connection
        return connection


def _tls_context() -> ssl.SSLContext:
    """The system's CAs (and SSL_CERT_FILE), the bundle REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names, and
    certifi's, as requests trusts them."""
    context = ssl.create_default_context()
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    try:
        import certifi

        files = [bundle, certifi.where()]
    except ImportError:
        files = [bundle]
    for cafile in filter(None, files):
        try:
            context.load_verify_locations(cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot read the CA bundle {cafile} ({reason_of(exc)}); fix REQUESTS_CA_BUNDLE or"
                              " CURL_CA_BUNDLE, or unset it") from None
    return context
