"""`LoopbackServer`: the life cycle of a test server on 127.0.0.1 that speaks a remote API's wire format.

A plugin's stand-in for a remote API (Roboflow, an OpenAI-compatible VLM server) subclasses it, sets
``handler`` (a ``BaseHTTPRequestHandler`` that reads the server as ``self.app``) and gets a free port,
a serving thread, ``start``/``stop`` and ``with``. Only the standard library is imported.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # clients that hang up (timeouts) are expected
        pass


class LoopbackServer:
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "loopback-test-server"
    request_queue_size: ClassVar[int] = 64

    def __init__(self) -> None:
        self._stopping = threading.Event()  # set on stop: a handler sleeping to play a slow server wakes up
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        handler = type("Handler", (self.handler,), {"app": self})
        server_class = type("Server", (_Server,), {"request_queue_size": self.request_queue_size})
        self._httpd = server_class(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
