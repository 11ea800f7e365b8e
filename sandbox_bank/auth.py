"""Who may ask what: the platform signs its requests with Ed25519; the bank's operator (the demo,
the tests, the drill) uses a bearer token.

Platform request signature (the platform's side is settlement/gateways/sandbox.py):

    X-Clearhouse-Timestamp: <unix seconds>
    X-Clearhouse-Signature: <base64 of the 64-byte Ed25519 signature>

over the bytes  b"clearhouse-bank-request/v1\\n" + METHOD + "\\n" + TARGET + "\\n" + TIMESTAMP +
"\\n" + BODY,  where TARGET is the path with its query string as sent ("/transfers/po-1",
"/statements/camt053?date=2025-03-01"). A timestamp more than `signature_tolerance_s` away from
the bank's clock, or a signature that does not verify, is refused (401) before anything is done.

The check itself is core.crypto's: the project keeps every use of pycryptodome in that one module
(tests/core/test_crypto_boundary.py), and it is the bank's only import from the platform's code
(an import contract allows that one and no other).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time

from core import crypto

from .errors import Forbidden, Unauthorized

SIGNATURE_DOMAIN = b"clearhouse-bank-request/v1\n"
TIMESTAMP_HEADER = "x-clearhouse-timestamp"
SIGNATURE_HEADER = "x-clearhouse-signature"
_MAX_SIGNATURE_CHARS = 200


def signed_message(method: str, target: str, timestamp: str, body: bytes) -> bytes:
    return SIGNATURE_DOMAIN + f"{method.upper()}\n{target}\n{timestamp}\n".encode() + body


class RequestVerifier:
    def __init__(self, public_key_pem: str, *, tolerance_s: int) -> None:
        if not public_key_pem:
            raise ValueError("the platform's public key is not configured")
        try:
            info = crypto.inspect_public_key(public_key_pem, purpose="signing")
        except crypto.CryptoError as exc:
            raise ValueError(f"the platform's public key is not usable: {exc}") from None
        if info.algorithm != crypto.ED25519:
            raise ValueError("the platform's key must be an Ed25519 public key")
        self._public_pem = info.public_pem
        self.tolerance_s = tolerance_s

    def verify(
        self,
        *,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        now: float | None = None,
    ) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        signature_text = headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not signature_text:
            raise Unauthorized("The request is not signed.", code="signature_missing")
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise Unauthorized("The signature timestamp is malformed.", code="signature_invalid")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > self.tolerance_s:
            raise Unauthorized(
                "The signature timestamp is too old or too new.", code="signature_stale"
            )
        try:
            if len(signature_text) > _MAX_SIGNATURE_CHARS:
                raise ValueError("too long")
            signature = base64.b64decode(signature_text, validate=True)
            crypto.verify(
                self._public_pem,
                signed_message(method, target, timestamp, body),
                signature,
                algorithm=crypto.ED25519,
            )
        except (ValueError, binascii.Error, crypto.CryptoError):
            raise Unauthorized("The signature does not verify.", code="signature_invalid") from None


def check_admin_token(expected: str, authorization: str) -> None:
    if not expected:
        raise Forbidden("The bank's operator endpoints are off (no admin token is set).")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("A valid operator token is needed.", code="admin_token_invalid")
