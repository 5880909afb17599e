"""Plain HTTP through the proxy HTTP_PROXY names, and NO_PROXY (what requests and curl read)."""

from __future__ import annotations

import base64

from segkit_http.testing import EchoServer, assert_no_secret


def test_http_goes_through_the_proxy_with_its_credentials(make_client, monkeypatch):
    with EchoServer() as proxy:  # answers like the API, and records the request line's target
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pr0xy-pass@127.0.0.1:{proxy.origin.rsplit(':', 1)[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = make_client("http://api.example:8000/v1")
        assert client.post_json("/echo", {"a": 1}) == {"echo": {"a": 1}}
        client.check_reachable()  # the proxy is what must be reachable
    (seen,) = proxy.seen()
    assert seen.path == "/v1/echo" and seen.headers["Host"] == "api.example:8000"
    assert seen.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"user:pr0xy-pass").decode()


def test_no_proxy_skips_it(server, make_client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert make_client(server.origin + "/v1").post_json("/echo", {}) == {"echo": {}}


def test_a_proxy_that_is_not_there_is_named(make_client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://someone:hunter2pass@127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_client("http://api.example/v1")
    try:
        client.check_reachable()
    except Exception as exc:  # ConfigError
        message = str(exc)
    assert message.startswith("test: cannot connect to the proxy http://127.0.0.1:9 (Connection refused); check --api-url")
    assert_no_secret("hunter2pass", message)
