"""AES-256-GCM with associated data.

Blob layout (version 1): ``0x01 | nonce (12 bytes) | ciphertext | tag (16 bytes)``.
The version byte is authenticated too: the GCM associated data is ``0x01 || associated_data``.
A fresh random 96-bit nonce per message; with random nonces one key should encrypt no more than
about 2**32 messages, which is why records get their own data keys (see keyring.py).
"""

from __future__ import annotations

import secrets

from Crypto.Cipher import AES

from .errors import CryptoError, DecryptionFailed

AES_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_VERSION = b"\x01"
_MIN_BLOB_BYTES = len(_VERSION) + NONCE_BYTES + TAG_BYTES


def new_data_key() -> bytes:
    """32 random bytes from the operating system's CSPRNG: a fresh AES-256 key."""
    return secrets.token_bytes(AES_KEY_BYTES)


def _require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _require_key(key: object) -> bytes:
    key = _require_bytes(key, "key")
    if len(key) != AES_KEY_BYTES:
        raise CryptoError(f"an AES-256 key is {AES_KEY_BYTES} bytes, not {len(key)}")
    return key


def aead_encrypt(plaintext: bytes, *, key: bytes, associated_data: bytes) -> bytes:
    """Encrypt and authenticate `plaintext`; `associated_data` is authenticated but not stored."""
    plaintext = _require_bytes(plaintext, "plaintext")
    key = _require_key(key)
    associated_data = _require_bytes(associated_data, "associated_data")
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(_VERSION + associated_data)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return _VERSION + nonce + ciphertext + tag


def aead_decrypt(blob: bytes, *, key: bytes, associated_data: bytes) -> bytes:
    """Decrypt a blob from `aead_encrypt`; any mismatch raises DecryptionFailed, never partial output."""
    blob = _require_bytes(blob, "blob")
    key = _require_key(key)
    associated_data = _require_bytes(associated_data, "associated_data")
    if len(blob) < _MIN_BLOB_BYTES:
        raise DecryptionFailed("ciphertext is truncated")
    if blob[:1] != _VERSION:
        raise DecryptionFailed("unknown ciphertext version")
    nonce = blob[1 : 1 + NONCE_BYTES]
    ciphertext = blob[1 + NONCE_BYTES : -TAG_BYTES]
    tag = blob[-TAG_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(_VERSION + associated_data)
    try:
        return cipher.decrypt_and_verify(ciphertext, tag)
    except (ValueError, KeyError, TypeError):
        # Wrong key, wrong associated data and tampering look the same on purpose.
        raise DecryptionFailed(
            "decryption failed: wrong key or associated data, or tampered"
        ) from None
