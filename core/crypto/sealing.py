"""Hybrid sealing to an RSA public key: RSA-OAEP-SHA256 wraps a fresh AES-256-GCM key.

Sealed layout (version 1), everything standard so a recipient can open it with any library:

    0x01 | len(wrapped_key) as uint16 big-endian | wrapped_key | nonce (12) | ciphertext | tag (16)

wrapped_key = RSA-OAEP(SHA-256, MGF1-SHA-256, empty label) of the 32-byte AES key.
The GCM associated data is the caller's `associated_data` as is (e.g. the order id), so a sealed
document moved to another context does not open. Sealing does not say who sealed: pair it with
a signature when that matters.
"""

from __future__ import annotations

import secrets
import struct

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA

from .aead import AES_KEY_BYTES, NONCE_BYTES, TAG_BYTES, new_data_key
from .errors import CryptoError, DecryptionFailed
from .keys import (
    RSA_GENERATE_BITS,
    load_rsa_private_key,
    load_rsa_public_key,
    private_key_pem,
    public_key_pem,
)

_VERSION = b"\x01"
_LENGTH = struct.Struct(">H")
_HEADER_BYTES = len(_VERSION) + _LENGTH.size


def _require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def generate_encryption_key() -> tuple[str, str]:
    """A new RSA-3072 key pair for sealing: (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = RSA.generate(RSA_GENERATE_BITS)
    return private_key_pem(key), public_key_pem(key)


def seal(public_pem: str, plaintext: bytes, *, associated_data: bytes = b"") -> bytes:
    """Encrypt `plaintext` so that only the holder of `public_pem`'s private key can read it."""
    plaintext = _require_bytes(plaintext, "plaintext")
    associated_data = _require_bytes(associated_data, "associated_data")
    rsa_key = load_rsa_public_key(public_pem)
    content_key = new_data_key()
    wrapped_key = PKCS1_OAEP.new(rsa_key, hashAlgo=SHA256).encrypt(content_key)
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(content_key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(associated_data)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return _VERSION + _LENGTH.pack(len(wrapped_key)) + wrapped_key + nonce + ciphertext + tag


def open_sealed(private_pem: str, sealed: bytes, *, associated_data: bytes = b"") -> bytes:
    """Open a `seal` result with the matching private key; DecryptionFailed on any mismatch."""
    sealed = _require_bytes(sealed, "sealed")
    associated_data = _require_bytes(associated_data, "associated_data")
    rsa_key = load_rsa_private_key(private_pem)
    if len(sealed) < _HEADER_BYTES or sealed[:1] != _VERSION:
        raise DecryptionFailed("not a sealed message (unknown version or truncated)")
    (wrapped_length,) = _LENGTH.unpack_from(sealed, len(_VERSION))
    if wrapped_length != rsa_key.size_in_bytes():
        raise DecryptionFailed("sealed for a key of another size")
    body_start = _HEADER_BYTES + wrapped_length
    if len(sealed) < body_start + NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("sealed message is truncated")
    wrapped_key = sealed[_HEADER_BYTES:body_start]
    nonce = sealed[body_start : body_start + NONCE_BYTES]
    ciphertext = sealed[body_start + NONCE_BYTES : -TAG_BYTES]
    tag = sealed[-TAG_BYTES:]
    try:
        content_key = PKCS1_OAEP.new(rsa_key, hashAlgo=SHA256).decrypt(wrapped_key)
        if len(content_key) != AES_KEY_BYTES:
            raise ValueError("wrong content key length")
        cipher = AES.new(content_key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(associated_data)
        return cipher.decrypt_and_verify(ciphertext, tag)
    except (ValueError, TypeError, IndexError):
        # One message for every cause: no padding oracle, no hint which part failed.
        raise DecryptionFailed(
            "sealed message could not be opened: wrong key, wrong associated data, or tampered"
        ) from None
