"""One keep-alive HTTP/1.1 connection to an API, held to a request's deadline and open to being shut
down from another thread (``abort``).

The standard library's ``http.client`` speaks the protocol; this module owns its socket: the connect is
non-blocking and waits in short slices (so a stop is noticed within 0.1 s even before the server
answers the handshake), the body is sent in chunks, and every read of the answer waits at most the
time left, so a server that drips one byte a second still ends at the deadline.
"""

from __future__ import annotations

import errno
import functools
import http.client
import io
import os
import selectors
import socket
import ssl
import threading
from typing import Callable, Mapping

from segkit_http.deadline import Deadline
from segkit_http.routes import Route

SEND_CHUNK = 64 * 1024
READ_CHUNK = 64 * 1024
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EAGAIN}


class ConnectFailed(OSError):
    """The connection to the API (or its proxy) could not be made; ``__cause__`` says why."""


class Stopped(Exception):
    """The client was aborted while this request waited."""


class TooLarge(Exception):
    """The answer is larger than the client accepts."""


class Answer:
    """A whole answer: status, reason phrase, headers, body (and ``value``, its JSON, once judged)."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes, reason: str = ""):
        self.status, self.headers, self.body, self.reason = status, headers, body, reason
        self.value: dict = {}


class Connection:
    """Used by one thread at a time; ``shutdown`` may come from any thread."""

    def __init__(self, route: Route, stopped: threading.Event, tls: Callable[[], ssl.SSLContext]):
        self._route = route
        self._stopped = stopped
        self._tls = tls
        self._deadline = Deadline(0)
        self._http: http.client.HTTPConnection | None = None

    def exchange(self, method: str, path: str, headers: Mapping[str, str], body: bytes, deadline: Deadline,
                 max_bytes: int) -> Answer:
        self._deadline = deadline
        if self._http is not None and _dropped(self._http.sock):
            self.close()  # the server closed it while it was idle: open a new one rather than fail a try
        if self._http is None:
            self._http = self._open()
        conn = self._http
        try:
            if conn.sock is None:
                try:
                    conn.connect()  # TCP, the proxy's tunnel, the TLS handshake: all within the deadline
                except TimeoutError:
                    raise
                except (OSError, http.client.HTTPException) as exc:
                    raise ConnectFailed(str(exc)) from exc
            self._check_stopped()
            conn.putrequest(method, self._route.target(path), skip_accept_encoding=True)
            for name, value in {**headers, **self._route.forward_headers}.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            deadline.arm(conn.sock)
            conn.endheaders()
            view = memoryview(body)
            for start in range(0, len(view), SEND_CHUNK):
                deadline.arm(conn.sock)
                conn.sock.sendall(view[start:start + SEND_CHUNK])
            response = conn.getresponse()
            data = _read_capped(response, max_bytes)
            if response.will_close:
                self.close()
            return Answer(response.status, response.headers, data, response.reason)
        except BaseException:
            self.close()  # a connection that failed mid-request is never reused
            raise

    def shutdown(self) -> None:
        """Wake whatever this connection waits on (from another thread): its socket stops both ways."""
        conn = self._http
        sock = conn.sock if conn is not None else None
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: TLS state is left alone
            except OSError:
                pass

    def close(self) -> None:
        conn, self._http = self._http, None
        if conn is not None:
            conn.close()

    # -- the socket underneath -----------------------------------------------------------------------

    def _open(self) -> http.client.HTTPConnection:
        route = self._route
        if route.origin.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                route.connect_host, route.connect_port, context=self._tls())
        else:
            conn = http.client.HTTPConnection(route.connect_host, route.connect_port)
        if route.tunnel:
            conn.set_tunnel(route.origin.host, route.origin.port, headers=route.proxy_headers)
        # http.client's own hook for making the socket (it sets TCP_NODELAY and wraps TLS afterwards)
        conn._create_connection = self._connect  # type: ignore[attr-defined]
        conn.response_class = functools.partial(_Response, deadline=lambda: self._deadline)  # type: ignore[assignment]
        return conn

    def _connect(self, address: tuple[str, int], *_ignored) -> socket.socket:
        host, port = address
        failure: OSError | None = None
        for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                self._connect_one(sock, sockaddr)
                return sock
            except (Stopped, TimeoutError):
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                failure = exc
        raise failure or OSError(f"no address for {host}")

    def _connect_one(self, sock: socket.socket, sockaddr) -> None:
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_WRITE)
            while code in _IN_PROGRESS:
                self._check_stopped()
                left = self._deadline.left()
                if selector.select(0.1 if left is None else min(0.1, left)):
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        self._deadline.arm(sock)  # blocking again, for the TLS handshake and the tunnel

    def _check_stopped(self) -> None:
        if self._stopped.is_set():
            raise Stopped()


class _DeadlineReader(io.RawIOBase):
    """The answer's bytes from the socket, each read waiting at most the time left."""

    def __init__(self, inner: io.BufferedReader, sock: socket.socket, deadline: Callable[[], Deadline]):
        self._inner, self._sock, self._deadline = inner, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._deadline().arm(self._sock)
        return self._inner.raw.readinto(buffer)

    def close(self) -> None:
        self._inner.close()  # http.client closes the socket through this file when the server ends it
        super().close()


class _Response(http.client.HTTPResponse):
    def __init__(self, sock, debuglevel=0, method=None, url=None, *, deadline: Callable[[], Deadline]):
        super().__init__(sock, debuglevel, method, url)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp, sock, deadline))


def _read_capped(response: http.client.HTTPResponse, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := response.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _dropped(sock: socket.socket | None) -> bool:
    """An idle keep-alive socket with something to read has been closed by the server (or is out of step)."""
    if sock is None:
        return False
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(0))
