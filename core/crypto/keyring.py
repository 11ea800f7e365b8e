"""The master key ring and envelope encryption of data keys.

settings.CLEARHOUSE_MASTER_KEYS is ``"id:base64,id:base64,..."``, newest first; each key is 32
bytes. Records are encrypted with their own random data key; the data key is stored wrapped
(AES-256-GCM) under the newest master key together with that key's id. Rotation: put a new key in
front, keep the old ones until every data key has been re-wrapped (`rewrap_data_key`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .aead import AES_KEY_BYTES, aead_decrypt, aead_encrypt, new_data_key
from .errors import CryptoError, DecryptionFailed

_SETTING = "CLEARHOUSE_MASTER_KEYS"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_MASTER_KEYS = 32
# Domain separation: a wrapped data key can never be mistaken for another blob under a master key.
_WRAP_DOMAIN = b"clearhouse/data-key/v1\x00"


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id, newest first. The repr shows ids only, never key bytes."""

    ids: tuple[str, ...]
    _keys: dict[str, bytes] = field(repr=False, compare=False)

    @property
    def newest_id(self) -> str:
        return self.ids[0]

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except (KeyError, TypeError):
            raise CryptoError(f"unknown master key id {key_id!r}") from None


@lru_cache(maxsize=8)
def _parse_key_ring(config: str) -> KeyRing:
    # Cached on the setting's text, so tests that override the setting get their own ring.
    entries = [entry.strip() for entry in config.split(",")]
    if not config.strip() or not all(entries):
        raise ImproperlyConfigured(
            f"{_SETTING} must be 'id:base64key[,id:base64key...]' (newest first) with no empty entries"
        )
    if len(entries) > MAX_MASTER_KEYS:
        raise ImproperlyConfigured(f"{_SETTING} holds more than {MAX_MASTER_KEYS} keys")
    ids: list[str] = []
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, separator, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not separator or not KEY_ID_PATTERN.match(key_id):
            raise ImproperlyConfigured(
                f"{_SETTING} entry {position} must start with an id of letters, digits, '_', '.' "
                "or '-' (at most 32) followed by ':'"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"{_SETTING} names key id {key_id!r} twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{_SETTING} key {key_id!r} is not valid base64") from None
        if len(key) != AES_KEY_BYTES:
            raise ImproperlyConfigured(
                f"{_SETTING} key {key_id!r} is {len(key)} bytes; each key must be {AES_KEY_BYTES}"
            )
        ids.append(key_id)
        keys[key_id] = key
    return KeyRing(ids=tuple(ids), _keys=keys)


def get_key_ring() -> KeyRing:
    """The master key ring from settings; ImproperlyConfigured if missing or malformed."""
    config = getattr(settings, _SETTING, "")
    if not isinstance(config, str):
        raise ImproperlyConfigured(f"{_SETTING} must be a string")
    return _parse_key_ring(config)


def _wrap_associated_data(key_id: str, associated_data: bytes) -> bytes:
    if not isinstance(associated_data, bytes | bytearray | memoryview):
        raise CryptoError("associated_data must be bytes")
    encoded_id = key_id.encode("ascii")
    # Length-prefixed id, so (id, data) pairs cannot collide.
    return _WRAP_DOMAIN + bytes([len(encoded_id)]) + encoded_id + bytes(associated_data)


def wrap_data_key(data_key: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
    """Wrap `data_key` under the newest master key. Returns (master key id, wrapped blob).

    `associated_data` binds the wrapped key to its record (e.g. b"vault.card:<uuid>"): a wrapped
    key copied onto another record does not unwrap.
    """
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != AES_KEY_BYTES:
        raise CryptoError(f"a data key is {AES_KEY_BYTES} bytes")
    ring = get_key_ring()
    key_id = ring.newest_id
    wrapped = aead_encrypt(
        bytes(data_key),
        key=ring.key(key_id),
        associated_data=_wrap_associated_data(key_id, associated_data),
    )
    return key_id, wrapped


def unwrap_data_key(key_id: str, wrapped: bytes, *, associated_data: bytes) -> bytes:
    """Unwrap a data key wrapped by `wrap_data_key` under master key `key_id` (any ring member)."""
    if not isinstance(key_id, str):
        raise CryptoError("key_id must be a string")
    master_key = get_key_ring().key(key_id)
    data_key = aead_decrypt(
        wrapped, key=master_key, associated_data=_wrap_associated_data(key_id, associated_data)
    )
    if len(data_key) != AES_KEY_BYTES:
        raise DecryptionFailed("unwrapped data key has the wrong length")
    return data_key


def rewrap_data_key(key_id: str, wrapped: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
    """Re-wrap a data key under the newest master key (rotation). Returns (new key id, wrapped)."""
    data_key = unwrap_data_key(key_id, wrapped, associated_data=associated_data)
    return wrap_data_key(data_key, associated_data=associated_data)


@sensitive_variables("plaintext", "data_key")
def envelope_encrypt(plaintext: bytes, *, associated_data: bytes) -> tuple[str, bytes, bytes]:
    """Envelope encryption of one record: `plaintext` sealed (AES-256-GCM) under a fresh data key,
    the data key wrapped under the newest master key; both seals bind `associated_data`.
    Returns (master key id, wrapped data key, ciphertext): store all three with the record."""
    data_key = new_data_key()
    ciphertext = aead_encrypt(plaintext, key=data_key, associated_data=associated_data)
    key_id, wrapped = wrap_data_key(data_key, associated_data=associated_data)
    return key_id, wrapped, ciphertext


@sensitive_variables("data_key")
def envelope_decrypt(
    key_id: str, wrapped: bytes, ciphertext: bytes, *, associated_data: bytes
) -> bytes:
    """The plaintext of an `envelope_encrypt` record; CryptoError if anything does not match."""
    data_key = unwrap_data_key(key_id, wrapped, associated_data=associated_data)
    return aead_decrypt(ciphertext, key=data_key, associated_data=associated_data)
