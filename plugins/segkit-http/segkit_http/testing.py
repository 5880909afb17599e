"""Test helpers for remote plugins: the base of a loopback stand-in for an API, a server that drips its
answer, a port nobody listens on, and the check that a secret is nowhere, not even in pieces.

``StandInServer`` (on segkit.testing's ``LoopbackServer``) records what it saw, consumes injected faults in
order, and answers through ``JsonHandler``: subclasses implement ``respond(path, query, headers, raw)``
and return a ``Reply``. segkit-roboflow's and segkit-vlm's stand-ins are built on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np

from segkit.testing.loopback import LoopbackServer

# Option values that keep a test quick against a server answering in milliseconds (the remote plugins
# share these field names).
FAST_RETRIES = {"timeout": 5.0, "max_tries": 3, "backoff": 0.01, "max_backoff": 0.05}


def fast_flags(family: str) -> list[str]:
    """``-O family.timeout=5 -O family.backoff=...``: FAST_RETRIES as `segkit` flags, but max_tries."""
    return [arg for key in ("timeout", "backoff", "max_backoff") for arg in ("-O", f"{family}.{key}={FAST_RETRIES[key]:g}")]


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pixels_digest(rgb: np.ndarray) -> str:
    """A hash of an RGB image's pixels and shape: what a stand-in compares with what was sent."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return hashlib.sha1(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()


def secret_pieces(secret: str, shortest: int = 6) -> set[str]:
    """The secret and every piece of it ``shortest`` characters long (longer pieces contain one)."""
    return {secret[i:i + shortest] for i in range(len(secret) - shortest + 1)} | {secret}


def assert_no_secret(secret: str, *texts: str, folder: Path | None = None, shortest: int = 6) -> None:
    """Neither ``secret`` nor any piece of it ``shortest`` characters long is in ``texts`` or in any file
    under ``folder``."""
    pieces = secret_pieces(secret, shortest)
    for index, text in enumerate(texts):
        found = sorted(p for p in pieces if p in text)
        assert not found, f"text {index} holds {found}: {text[:2000]}"
    for path in sorted(folder.rglob("*")) if folder is not None else ():
        if path.is_file():
            data = path.read_bytes()
            found = sorted(p for p in pieces if p.encode() in data)
            assert not found, f"{path} holds {found}"


def run_segkit(*args: str | Path, env: dict[str, str | None] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`segkit ARGS` in a new process (its own stdout and stderr), the environment changed by ``env``
    (None removes a variable)."""
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run([sys.executable, "-m", "segkit", *map(str, args)], capture_output=True, text=True,
                          env=environment, timeout=timeout)


# -- stand-ins for an API ---------------------------------------------------------------------------


class Fault(Protocol):
    times: int | None  # how many more requests it applies to; None: every one

    def matches(self, seen: Any) -> bool: ...


@dataclass
class Reply:
    """What a stand-in answers: a status (negative: hang up without an answer), a JSON body (or bytes)
    and extra headers."""

    status: int
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)


class StandInServer(LoopbackServer):
    """The base of a loopback stand-in for a remote API (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def respond(self, path: str, query: dict[str, list[str]], headers: Any, raw: bytes) -> Reply:
        raise NotImplementedError

    def respond_get(self, path: str) -> Reply:
        return Reply(404, {"detail": "Not Found"})

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take_fault(self, seen: Any) -> Any:
        """The first injected fault that still applies and matches this request (used up by one)."""
        with self._lock:
            for fault in self._faults:
                if (fault.times is None or fault.times > 0) and fault.matches(seen):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def record(self, seen: Any) -> None:
        with self._lock:
            self.requests.append(seen)

    def seen(self) -> list[Any]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def pause(self, seconds: float) -> None:
        """Wait like a slow server; ``stop`` wakes it."""
        if seconds > 0:
            self._stopping.wait(seconds)


class JsonHandler(BaseHTTPRequestHandler):
    app: StandInServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # As uvicorn does: headers and body go out in two writes, and with Nagle's algorithm the second
        # waits for the client's delayed ACK (40 ms a request on Linux).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self._send(self.app.respond(parts.path, parse_qs(parts.query), self.headers, raw))

    def do_GET(self) -> None:  # noqa: N802
        self._send(self.app.respond_get(urlsplit(self.path).path))

    def _send(self, reply: Reply) -> None:
        if reply.status < 0:
            self.close_connection = True
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, ensure_ascii=False, default=str).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


StandInServer.handler = JsonHandler


@dataclass
class EchoFault:
    """One injected answer of ``EchoServer``: a status (negative: hang up) with a body, after ``delay``."""

    status: int = 500
    body: Any = None  # default: {"message": "test fault <status>"}
    retry_after: float | None = None
    delay: float = 0.0
    times: int | None = 1

    def matches(self, seen: Any) -> bool:
        return True


@dataclass
class EchoSeen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int | None = None


class EchoServer(StandInServer):
    """Answers ``POST /v1/echo`` with ``{"echo": <the JSON body>}``, or with the next injected fault;
    counts the requests in flight (``max_in_flight``)."""

    thread_name = "echo-test-server"

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0

    def respond(self, path: str, query: dict[str, list[str]], headers: Any, raw: bytes) -> Reply:
        seen = EchoSeen(path, query, dict(headers), json.loads(raw or b"null"))
        self.record(seen)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self._reply(seen)
        finally:
            with self._lock:
                self.in_flight -= 1
        seen.status = reply.status
        return reply

    def _reply(self, seen: EchoSeen) -> Reply:
        fault = self.take_fault(seen)
        if fault is not None:
            self.pause(fault.delay)
            if fault.status == 200 or fault.status < 0:
                return Reply(fault.status, fault.body)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            body = fault.body if fault.body is not None else {"message": f"test fault {fault.status}"}
            return Reply(fault.status, body, headers)
        if seen.path != "/v1/echo":
            return Reply(404, {"detail": "Not Found"})
        return Reply(200, {"echo": seen.body})

    def statuses(self) -> list[int | None]:
        return [s.status for s in self.seen()]


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` in a daemon thread; the dict gets its "result" or its "error"."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# -- a server too slow to wait for ------------------------------------------------------------------


class DripServer(LoopbackServer):
    """Answers every request with a valid JSON object, status line and headers included, one byte every
    ``interval`` seconds: a per-read socket timeout never fires on it, only a whole-request deadline
    does. With a long ``interval`` it holds a request until the client gives up (or ``stop``)."""

    thread_name = "drip-test-server"

    def __init__(self, interval: float = 0.05, body: dict | None = None):
        super().__init__()
        self.interval = interval
        self.body = json.dumps(body if body is not None else {"choices": [], "predictions": []}).encode()
        self.started = threading.Event()  # set when a request's answer has begun
        self.requests = 0
        self._count = threading.Lock()


class _DripHandler(BaseHTTPRequestHandler):
    app: "DripServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        app = self.app
        with app._count:
            app.requests += 1
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(app.body), app.body))
        app.started.set()
        for byte in answer:
            if app._stopping.wait(app.interval):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up
                return
        self.close_connection = True


DripServer.handler = _DripHandler
