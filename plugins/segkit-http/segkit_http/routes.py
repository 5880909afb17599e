"""Where a request connects: to the API itself, or through the proxy the environment names
(``HTTPS_PROXY`` / ``HTTP_PROXY``, ``NO_PROXY``: the variables requests and curl read)."""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from segkit import register_secret

from segkit_http.urls import Origin


@dataclass(frozen=True)
class Route:
    origin: Origin
    connect_host: str
    connect_port: int
    via_proxy: str = ""  # the proxy's URL without credentials, for messages
    proxy_headers: dict[str, str] = field(default_factory=dict)

    @property
    def tunnel(self) -> bool:
        """HTTPS through a proxy goes through a CONNECT tunnel; plain HTTP is sent to the proxy whole."""
        return bool(self.via_proxy) and self.origin.scheme == "https"

    def target(self, path: str) -> str:
        """The request line's target: the path, or the whole URL when a proxy forwards plain HTTP."""
        if self.via_proxy and not self.tunnel:
            return f"{self.origin.scheme}://{self.origin.netloc}{path}"
        return path

    @property
    def forward_headers(self) -> dict[str, str]:
        """Headers for the proxy on every request it forwards whole (plain HTTP); a tunnel gets them once."""
        return self.proxy_headers if self.via_proxy and not self.tunnel else {}

    @property
    def where(self) -> str:
        """What a connection error names: the API, or the proxy in between."""
        return f"the proxy {self.via_proxy}" if self.via_proxy else f"{self.origin.scheme}://{self.origin.netloc}"


def route_for(origin: Origin) -> Route:
    proxy = urllib.request.getproxies().get(origin.scheme)
    if not proxy or urllib.request.proxy_bypass(origin.host):
        return Route(origin, origin.host, origin.port)
    if "://" not in proxy:
        proxy = "http://" + proxy
    parts = urlsplit(proxy)
    headers = {}
    if parts.username is not None:
        password = unquote(parts.password or "")
        register_secret(password)
        credentials = f"{unquote(parts.username)}:{password}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        register_secret(headers["Proxy-Authorization"])
    port = parts.port or (443 if parts.scheme == "https" else 80)
    shown = f"{parts.scheme}://{parts.hostname}:{port}"
    return Route(origin, parts.hostname or "", port, shown, headers)
