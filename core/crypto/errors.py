"""The one exception every cryptographic failure becomes.

Callers catch `CryptoError` (or a subclass when they want to tell the user why). Messages never
contain key material, plaintext or the inner library's exception text for decryption and
verification failures, so they are safe to log and to show.
"""

from __future__ import annotations


class CryptoError(Exception):
    """A cryptographic operation failed: wrong key, tampered or malformed input."""


class InvalidKey(CryptoError):
    """A key could not be parsed, or has the wrong type or size for its use."""


class InvalidSignature(CryptoError):
    """A signature does not match the message and the key."""


class DecryptionFailed(CryptoError):
    """A ciphertext could not be decrypted: wrong key, wrong associated data, tampered or truncated."""
