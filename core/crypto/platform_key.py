"""The platform's Ed25519 signing key (signs ledger seals and receipts; its public half is published).

settings.CLEARHOUSE_SIGNING_KEY is the base64 of a 32-byte Ed25519 seed (RFC 8032 private key).
The key id is the first 16 hex characters of the public key's fingerprint, so a verifier can pick
the right published key after a rotation.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from functools import lru_cache

from Crypto.PublicKey import ECC
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .keys import ED25519, key_fingerprint, public_key_pem
from .signatures import sign_with_key, verify, verify_with_key

_SETTING = "CLEARHOUSE_SIGNING_KEY"
_SEED_BYTES = 32
KEY_ID_HEX_CHARS = 16


@dataclass(frozen=True)
class _PlatformKey:
    key_id: str
    public_pem: str
    private_key: ECC.EccKey = field(repr=False)


@lru_cache(maxsize=4)
def _load(config: str) -> _PlatformKey:
    # Cached on the setting's text, so tests that override the setting get their own key.
    if not config.strip():
        raise ImproperlyConfigured(
            f"{_SETTING} is not set: it must be base64 of a 32-byte Ed25519 seed"
        )
    try:
        seed = base64.b64decode(config.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{_SETTING} is not valid base64") from None
    if len(seed) != _SEED_BYTES:
        raise ImproperlyConfigured(
            f"{_SETTING} is {len(seed)} bytes; an Ed25519 seed is {_SEED_BYTES}"
        )
    private_key = ECC.construct(curve="Ed25519", seed=seed)
    return _PlatformKey(
        key_id=key_fingerprint(private_key)[:KEY_ID_HEX_CHARS],
        public_pem=public_key_pem(private_key),
        private_key=private_key,
    )


def _platform_key() -> _PlatformKey:
    config = getattr(settings, _SETTING, "")
    if not isinstance(config, str):
        raise ImproperlyConfigured(f"{_SETTING} must be a string")
    return _load(config)


def platform_key_id() -> str:
    return _platform_key().key_id


def platform_public_key_pem() -> str:
    return _platform_key().public_pem


def platform_sign(message: bytes) -> tuple[str, bytes]:
    """Sign with the platform key: (key id, 64-byte Ed25519 signature)."""
    key = _platform_key()
    return key.key_id, sign_with_key(key.private_key, message, ED25519)


def platform_verify(message: bytes, signature: bytes, *, public_pem: str | None = None) -> None:
    """Verify a platform signature with the current key, or with `public_pem` (an earlier
    published platform key). Raises CryptoError unless it verifies."""
    if public_pem is not None:
        verify(public_pem, message, signature, algorithm=ED25519)
        return
    verify_with_key(_platform_key().private_key.public_key(), message, signature, ED25519)
