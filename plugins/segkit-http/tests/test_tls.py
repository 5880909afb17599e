"""HTTPS: the certificate is checked (against REQUESTS_CA_BUNDLE here), and the deadline holds over TLS."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest

from segkit import RetryPolicy
from segkit_http import HttpError
from segkit_http.testing import DripServer, EchoServer

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and no host name): (certificate file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "segkit-http test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def serve_tls(server_class, certificate, **kwargs):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    plain = server_class.handler

    class Handler(plain):
        def setup(self) -> None:
            self.request = context.wrap_socket(self.request, server_side=True)
            super().setup()

    server = server_class(**kwargs)
    server.handler = Handler
    return server.start()


def test_https_with_a_trusted_certificate(certificate, make_client, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    server = serve_tls(EchoServer, certificate)
    try:
        client = make_client(server.origin.replace("http:", "https:") + "/v1")
        assert client.post_json("/echo", {"n": 1}) == {"echo": {"n": 1}}
        assert client.post_json("/echo", {"n": 2}) == {"echo": {"n": 2}}  # on the same connection
    finally:
        server.stop()


def test_a_certificate_nobody_vouches_for_is_one_line_and_not_tried_again(certificate, make_client, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = serve_tls(EchoServer, certificate)
    try:
        with pytest.raises(HttpError) as caught:
            make_client(server.origin.replace("http:", "https:") + "/v1").post_json("/echo", {})
    finally:
        server.stop()
    assert "its TLS certificate was not accepted (self-signed certificate)" in str(caught.value)
    assert server.seen() == []


def test_the_deadline_holds_over_tls(certificate, make_client, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    server = serve_tls(DripServer, certificate, interval=0.05)
    try:
        with pytest.raises(HttpError, match=r"failed after 1 try: did not answer within 0.5 s"):
            make_client(server.origin.replace("http:", "https:"), timeout=0.5, retry=RetryPolicy(1, 0, 0)).post_json("/x", {})
    finally:
        server.stop()


def test_a_missing_ca_bundle_is_one_line(make_client, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nope.pem"))
    from segkit import ConfigError

    with pytest.raises(ConfigError, match=r"cannot read the CA bundle .*nope.pem \(No such file or directory\); fix REQUESTS_CA_BUNDLE"):
        make_client("https://api.example/v1")
