"""An API's base URL: checked once (in a plugin's Options), shown and recorded safely (no credentials, no
query), and split into where to connect."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


def check_api_url(value: str, example: str, key_source: str) -> str:
    """``value`` without surrounding spaces and trailing '/', or ValueError saying what is wrong (for a
    pydantic validator: the message becomes `option vlm.api_url: Value error, ...`)."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL such as {example}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"must not carry a query, fragment or credentials; give the key through {key_source}")
    try:
        parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    return url


def api_host(api_url: str) -> str:
    """scheme://host[:port][/path] of the API: safe to show and record (no credentials, no query)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class Origin:
    """Where requests for an API go: ``https://host:port`` and the base path the API's paths follow."""

    scheme: str
    host: str
    port: int
    base_path: str

    @classmethod
    def of(cls, api_url: str) -> "Origin":
        parts = urlsplit(api_url)
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname or "", parts.port or default, parts.path.rstrip("/"))

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"
