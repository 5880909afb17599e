"""A ``requests`` transport adapter that sends each request through an ``HttpClient``: for SDKs built on
requests (inference-sdk) whose request-building and answer-parsing code should run as it is, while
segkit-http owns the sockets.

    import requests
    from segkit_http.requests_adapter import HttpClientAdapter, session_for

    session = session_for(client)        # a requests.Session whose every request goes through `client`
    session.post(client_url + "/echo", json={"n": 1}).json()

What the adapter guarantees (it is ``HttpClient.exchange``, nothing else):

* the whole-request deadline, segkit-http's retries (408, 429, 5xx but 501, timeouts, broken connections,
  2xx bodies that are not JSON) with backoff and Retry-After, the concurrency cap and ``abort()``;
* only a 2xx answer whose body is a JSON object comes back as a ``requests.Response``. Every other outcome
  raises ``segkit_http.HttpError`` (one line, secrets masked), which is NOT a ``requests`` exception: a
  caller's own retry loop on statuses or ``requests.ConnectionError`` (inference-sdk retries 429/503/504
  and connection errors 3 times) never fires, so the client's policy is the only one;
* a request for any other origin than the client's API is refused (``HttpError``, kind ``failed``):
  nothing escapes the deadline by going to another host.

requests' own ``timeout``, ``proxies``, ``verify`` and ``cert`` arguments are ignored: the client's
``timeout``, proxy environment and CA bundles apply. Requires ``requests`` (``segkit-http[requests]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from segkit_http.client import HttpClient
from segkit_http.errors import HttpError

# Headers the client sets itself (one keep-alive connection per thread, the body's length, no compression:
# the answer is read as it comes).
_OWN_HEADERS = {"connection", "content-length", "transfer-encoding", "accept-encoding", "host", "keep-alive"}


class HttpClientAdapter(BaseAdapter):
    """Sends a ``requests.PreparedRequest`` with ``client.exchange`` (see the module docstring)."""

    def __init__(self, client: HttpClient):
        super().__init__()
        self.client = client
        origin = client._origin
        self._scheme, self._netloc, self._base = origin.scheme, origin.netloc.lower(), origin.base_path

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Mapping[str, str] | None = None) -> requests.Response:
        path, query = self._relative(request.url or "")
        body = request.body or b""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        headers = {"Accept-Encoding": "identity",
                   **{name: value for name, value in request.headers.items() if name.lower() not in _OWN_HEADERS}}
        answer = self.client.exchange(request.method or "GET", path, data, headers=headers, query=query)
        response = requests.Response()
        response.status_code = answer.status
        response.reason = answer.reason
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = answer.body
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        """Nothing to release here: the client's connections are its own (``client.abort()`` stops them)."""

    def _relative(self, url: str) -> tuple[str, str]:
        """``url``'s path under the client's API and its query string; HttpError for any other place."""
        parts = urlsplit(url)
        netloc = (parts.hostname or "").lower()
        if ":" in netloc:
            netloc = f"[{netloc}]"
        default = 443 if parts.scheme == "https" else 80
        if parts.port and parts.port != default:
            netloc += f":{parts.port}"
        if (parts.scheme, netloc) != (self._scheme, self._netloc) or not parts.path.startswith(self._base):
            where = f"{parts.scheme}://{netloc}{parts.path}"
            raise HttpError(f"{self.client.name}: a request for {where} is outside {self.client.host}; only the"
                            f" configured API is reached (check {self.client.url_option})", kind="failed")
        return parts.path[len(self._base):], parts.query


def session_for(client: HttpClient) -> requests.Session:
    """A ``requests.Session`` whose every request (http and https) goes through ``client``; it reads no
    environment (proxies, CA bundles and .netrc are the client's business)."""
    session = requests.Session()
    session.trust_env = False  # no .netrc credentials added, no proxy settings that would be ignored anyway
    adapter = HttpClientAdapter(client)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
