"""Hashes, MACs, constant-time comparison and password-based key derivation."""

from __future__ import annotations

import hashlib
import hmac

from Crypto.Protocol.KDF import scrypt

from .errors import CryptoError

# scrypt cost: N=2**15, r=8, p=1 needs 32 MiB and tens of milliseconds; raise N, never lower it,
# and only together with a way to re-derive what was derived with the old value.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MIN_SALT_BYTES = 16
SCRYPT_MAX_KEY_BYTES = 64


def _require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return _require_bytes(value, name)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(_require_bytes(data, "data")).digest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(
        _require_bytes(key, "key"), _require_bytes(message, "message"), hashlib.sha256
    ).digest()


def constant_time_equal(a: bytes | str, b: bytes | str) -> bool:
    """Compare secrets (MACs, tokens) in time independent of where they differ; str is UTF-8."""
    return hmac.compare_digest(_as_bytes(a, "a"), _as_bytes(b, "b"))


def derive_key_scrypt(password: str, salt: bytes, *, length: int = 32) -> bytes:
    """scrypt(password, salt, N=SCRYPT_N, r=8, p=1): deterministic for the same inputs."""
    password_bytes = _as_bytes(password, "password")
    salt = _require_bytes(salt, "salt")
    if len(salt) < SCRYPT_MIN_SALT_BYTES:
        raise CryptoError(f"the salt must be at least {SCRYPT_MIN_SALT_BYTES} bytes")
    if (
        isinstance(length, bool)
        or not isinstance(length, int)
        or not 16 <= length <= SCRYPT_MAX_KEY_BYTES
    ):
        raise CryptoError(f"length must be an int from 16 to {SCRYPT_MAX_KEY_BYTES}")
    try:
        return scrypt(password_bytes, salt, length, N=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    except (ValueError, TypeError) as exc:
        raise CryptoError("key derivation failed") from exc
