"""Webhooks over HTTPS: the socket goes to the checked address, yet the certificate is verified for
the URL's host name (SNI + hostname check), and a certificate for another name is refused."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading

import pytest

from payments.webhooks import http as webhook_http

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "openssl"], capture_output=True).returncode != 0,
    reason="needs the openssl command to make a test certificate authority",
)


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throwaway CA and two server certificates it signed: for localhost and for another name."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    for name in ("localhost", "elsewhere.example"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        (folder / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.pem", cwd=folder)  # fmt: skip
    return folder


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        _Receiver.bodies.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def https_server(pki):
    def start(cert_name: str):
        server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki / f"{cert_name}.pem", pki / f"{cert_name}.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    servers: list = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def trusts_the_test_ca(pki, monkeypatch, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    make_context = ssl.create_default_context  # the real one, before it is replaced
    monkeypatch.setattr(
        webhook_http.ssl,
        "create_default_context",
        lambda: make_context(cafile=str(pki / "ca.pem")),
    )


def test_https_delivery_verifies_the_certificate_for_the_urls_host(
    https_server, trusts_the_test_ca
):
    port = https_server("localhost")
    _Receiver.bodies.clear()

    result = webhook_http.post_json(
        f"https://localhost:{port}/hooks", body=b'{"type":"order.accepted"}', headers={}
    )

    assert result.ok and result.response_code == 204, result
    assert _Receiver.bodies == [b'{"type":"order.accepted"}']


def test_a_certificate_for_another_name_is_refused(https_server, trusts_the_test_ca):
    port = https_server("elsewhere.example")
    _Receiver.bodies.clear()

    result = webhook_http.post_json(f"https://localhost:{port}/hooks", body=b"{}", headers={})

    assert not result.ok and result.error.startswith("TLS error"), result
    assert _Receiver.bodies == []


def test_a_certificate_from_an_unknown_authority_is_refused(https_server, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = True
    port = https_server("localhost")  # the system's trust store does not know the test CA

    result = webhook_http.post_json(f"https://localhost:{port}/hooks", body=b"{}", headers={})

    assert not result.ok and result.error.startswith("TLS error"), result
