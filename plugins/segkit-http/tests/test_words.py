"""What goes into a message: the server's own words, short; URLs safe to show; secrets masked before
anything is cut."""

from __future__ import annotations

import pytest

from segkit import register_secret
from segkit_http import api_host, check_api_url, server_words, shorten


@pytest.mark.parametrize("body, words", [
    (b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}', "Rate limit reached"),
    (b'{"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}', "The model `x` does not exist."),
    (b'{"detail": "Not Found"}', "Not Found"),
    (b'{"message": "N/A"}', ""),
    (b"<html><body>502 Bad Gateway</body></html>", ""),
    (b"upstream   timed\n out", "upstream timed out"),
    (b"x" * 1000, "x" * 297 + "..."),
    (b"\xff\xfe broken", "\ufffd\ufffd broken"),
])
def test_the_servers_words_short(body, words):
    assert server_words(body) == words


def test_field_errors_of_a_422_without_the_input_they_echo():
    detail = [{"type": "missing", "loc": ["body", "image"], "msg": "Field required", "input": {"api_key": "secret"}}] * 5
    assert server_words({"detail": detail}) == ("body.image: Field required; body.image: Field required;"
                                                " body.image: Field required; and 2 more")


def test_secrets_are_masked_before_the_text_is_cut():
    key = "zz_QWERTY987654"
    register_secret(key)
    text = "y" * 295 + key
    assert shorten(text) == "y" * 295 + "***" and key[:5] not in shorten(text, 300)
    assert "QWERT" not in server_words(("e" * 290 + key).encode())


def test_api_host_keeps_no_credentials_or_query():
    assert api_host("http://localhost:9001") == "http://localhost:9001"
    assert api_host("https://x.example/api/") == "https://x.example/api"
    assert api_host("http://[::1]:9001") == "http://[::1]:9001"
    assert api_host("https://u:p@x.example:8443/v1?api_key=k") == "https://x.example:8443/v1"


@pytest.mark.parametrize("value, message", [
    ("localhost:8000", "must be an http(s) URL such as http://localhost:8000/v1"),
    ("http://u:secret@host/v1", "must not carry a query, fragment or credentials; give the key through OPENAI_API_KEY"),
    ("http://host/v1?api_key=x", "must not carry a query"),
    ("http://host:99999/v1", "has a port that is not a number from 0 to 65535"),
])
def test_api_urls_that_cannot_work(value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        check_api_url(value, "http://localhost:8000/v1", "OPENAI_API_KEY")
    assert check_api_url(" http://h:1/v1/ ", "", "") == "http://h:1/v1"
