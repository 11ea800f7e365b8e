"""Signatures: Ed25519 (RFC 8032, pure, no context) and RSA-PSS-SHA256; RSA-SHA256 PKCS#1 v1.5.

RSA-PSS parameters: SHA-256, MGF1-SHA-256, salt length 32 bytes (the hash length; what JWS
"PS256" and most libraries use), so ``openssl dgst -sha256 -sigopt rsa_padding_mode:pss
-sigopt rsa_pss_saltlen:32`` verifies our signatures and we verify theirs.
"""

from __future__ import annotations

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import eddsa, pkcs1_15, pss

from .errors import CryptoError, InvalidKey, InvalidSignature
from .keys import (
    ED25519,
    RSA_GENERATE_BITS,
    RSA_PSS_SHA256,
    SIGNATURE_ALGORITHMS,
    AnyKey,
    load_private_key,
    load_public_key,
    load_rsa_private_key,
    load_rsa_public_key,
    private_key_pem,
    public_key_pem,
)

ED25519_SIGNATURE_BYTES = 64
_PSS_SALT_BYTES = 32


def _require_algorithm(algorithm: object) -> str:
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise CryptoError(
            f"unknown signature algorithm {algorithm!r}; expected one of {', '.join(SIGNATURE_ALGORITHMS)}"
        )
    return str(algorithm)


def _require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _check_key_matches(key: AnyKey, algorithm: str) -> None:
    if algorithm == ED25519 and not isinstance(key, ECC.EccKey):
        raise InvalidKey("algorithm ed25519 needs an Ed25519 key, got an RSA key")
    if algorithm == RSA_PSS_SHA256 and not isinstance(key, RSA.RsaKey):
        raise InvalidKey("algorithm rsa-pss-sha256 needs an RSA key, got an Ed25519 key")


def generate_signing_key(algorithm: str = ED25519) -> tuple[str, str]:
    """A new signing key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM).

    "ed25519", or "rsa-pss-sha256" for an RSA-3072 key.
    """
    algorithm = _require_algorithm(algorithm)
    key: AnyKey = (
        ECC.generate(curve="Ed25519") if algorithm == ED25519 else RSA.generate(RSA_GENERATE_BITS)
    )
    return private_key_pem(key), public_key_pem(key)


def signing_key_from_seed(seed: bytes) -> tuple[str, str]:
    """The Ed25519 key pair of a 32-byte seed (RFC 8032), as (private PKCS#8 PEM, public PEM).

    For keys the platform derives rather than stores (a buyer's acknowledgement key).
    """
    seed = _require_bytes(seed, "seed")
    if len(seed) != 32:
        raise CryptoError("an Ed25519 seed is 32 bytes")
    key = ECC.construct(curve="Ed25519", seed=seed)
    return private_key_pem(key), public_key_pem(key)


def sign_with_key(key: AnyKey, message: bytes, algorithm: str) -> bytes:
    """Sign with an already parsed private key (the platform key uses this)."""
    message = _require_bytes(message, "message")
    _check_key_matches(key, algorithm)
    try:
        if algorithm == ED25519:
            return eddsa.new(key, "rfc8032").sign(message)
        return pss.new(key, salt_bytes=_PSS_SALT_BYTES).sign(SHA256.new(message))
    except (ValueError, TypeError, IndexError) as exc:
        raise CryptoError("signing failed") from exc


def verify_with_key(key: AnyKey, message: bytes, signature: bytes, algorithm: str) -> None:
    """Verify with an already parsed public key; InvalidSignature unless it matches."""
    message = _require_bytes(message, "message")
    signature = _require_bytes(signature, "signature")
    _check_key_matches(key, algorithm)
    try:
        if algorithm == ED25519:
            if len(signature) != ED25519_SIGNATURE_BYTES:
                raise ValueError("wrong length")
            eddsa.new(key, "rfc8032").verify(message, signature)
        else:
            pss.new(key, salt_bytes=_PSS_SALT_BYTES).verify(SHA256.new(message), signature)
    except (ValueError, TypeError, IndexError):
        raise InvalidSignature("signature does not verify") from None


def sign(private_pem: str, message: bytes, *, algorithm: str) -> bytes:
    """Sign `message` with a PEM private key: "ed25519" (64 bytes) or "rsa-pss-sha256"."""
    algorithm = _require_algorithm(algorithm)
    return sign_with_key(load_private_key(private_pem), message, algorithm)


def verify(public_pem: str, message: bytes, signature: bytes, *, algorithm: str) -> None:
    """Return None if `signature` is `algorithm`'s signature of `message` by `public_pem`;
    otherwise raise CryptoError (InvalidSignature, or InvalidKey for an unusable key)."""
    algorithm = _require_algorithm(algorithm)
    verify_with_key(load_public_key(public_pem), message, signature, algorithm)


def rsa_pkcs1v15_sign(private_pem: str, message: bytes) -> bytes:
    """RSA-SHA256 with PKCS#1 v1.5 padding (Alipay's "RSA2"). New designs use PSS or Ed25519."""
    message = _require_bytes(message, "message")
    key = load_rsa_private_key(private_pem)
    try:
        return pkcs1_15.new(key).sign(SHA256.new(message))
    except (ValueError, TypeError, IndexError) as exc:
        raise CryptoError("signing failed") from exc


def rsa_pkcs1v15_verify(public_pem: str, message: bytes, signature: bytes) -> None:
    """Verify an RSA-SHA256 PKCS#1 v1.5 signature; InvalidSignature unless it matches."""
    message = _require_bytes(message, "message")
    signature = _require_bytes(signature, "signature")
    key = load_rsa_public_key(public_pem)
    try:
        pkcs1_15.new(key).verify(SHA256.new(message), signature)
    except (ValueError, TypeError, IndexError):
        raise InvalidSignature("signature does not verify") from None
