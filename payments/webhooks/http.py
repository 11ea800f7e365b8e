"""The network side of outgoing webhooks: URL checks (SSRF) and one signed POST.

A webhook URL is chosen by a seller, so the platform must not be made to call its own private
network: unless settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE is on (local and test), a URL whose
host resolves to a private, loopback, link-local, multicast, reserved or unspecified address is
refused, at registration and again at every send (DNS may change in between). The connection
then goes to the very address that was checked (no second lookup an attacker could rebind),
redirects are not followed, and the whole exchange has a 10 s timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import ValidationError

TIMEOUT_S = 10.0
USER_AGENT = "Clearhouse-Webhooks/1.0"
# Only a little of the answer is read: its status is all that counts.
MAX_RESPONSE_BYTES = 4096


class UnsafeUrl(ValidationError):
    """This URL may not receive webhooks."""

    code = "webhook_url_not_allowed"


def allow_private() -> bool:
    return bool(getattr(settings, "CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE", False))


# NAT64 prefixes (RFC 6052 well-known, RFC 8215 local use): the last 32 bits are an IPv4 address.
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible): a
    packet to it may end up at them, so they decide whether it is public."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # (server, client)
    last_32_bits = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return [last_32_bits]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1
        return [last_32_bits]
    return []


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            return all(_is_public(inner) for inner in embedded)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_url_syntax(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL with a host and no credentials; else UnsafeUrl."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl("Enter the URL that should receive webhooks.", field="url")
    if len(url) > 2000:
        raise UnsafeUrl("The URL is too long (at most 2000 characters).", field="url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeUrl("This is not a valid URL.", field="url") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("The URL must start with https:// (or http://).", field="url")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host name.", field="url")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL must not contain a user name or password.", field="url")
    if any(ch.isspace() for ch in url.strip()):
        raise UnsafeUrl("The URL must not contain spaces.", field="url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_allowed(host: str, port: int) -> str:
    """An IP address of `host` that may be called (the first one resolved); UnsafeUrl otherwise.

    With private addresses forbidden, every address the name resolves to must be public, so a
    name that also points inside cannot be used to reach it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeUrl(f"The host {host} could not be resolved.", field="url") from None
    addresses = []
    for info in infos:
        literal = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(literal))
    if not addresses:
        raise UnsafeUrl(f"The host {host} could not be resolved.", field="url")
    if not allow_private():
        for address in addresses:
            if not _is_public(address):
                raise UnsafeUrl(
                    "The URL points to a private or reserved network address.", field="url"
                )
    return str(addresses[0])


def validate_webhook_url(url: str) -> str:
    """The URL, stripped, if it may receive webhooks now (syntax and, in production, address)."""
    _scheme, host, port = check_url_syntax(url)
    if not allow_private():
        # The address only matters when some are forbidden (a dev's receiver may not exist yet).
        resolve_allowed(host, port)
    return url.strip()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI for the URL's host name, though the socket went to the checked IP.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class SendResult:
    response_code: int | None
    latency_ms: int | None
    error: str  # "" when an HTTP answer came back (whatever its status)

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def post_json(url: str, *, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST `body` to `url` once; never raises for network trouble (it is in `error`)."""
    try:
        scheme, host, port = check_url_syntax(url)
        address = resolve_allowed(host, port)
    except UnsafeUrl as exc:
        return SendResult(None, None, exc.message[:255])
    parts = urlsplit(url.strip())
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=TIMEOUT_S)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Content-Length": str(len(body)),
            },
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        latency = int((time.monotonic() - started) * 1000)
        code = response.status
        # 3xx is not followed: the endpoint must answer 2xx itself.
        error = "" if 200 <= code < 300 else f"HTTP {code}"
        return SendResult(code, latency, error)
    except TimeoutError:
        return SendResult(None, int((time.monotonic() - started) * 1000), "timed out")
    except ssl.SSLError as exc:
        return SendResult(None, None, f"TLS error: {exc.reason or type(exc).__name__}"[:255])
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return SendResult(None, None, f"connection failed: {reason}"[:255])
    finally:
        connection.close()
