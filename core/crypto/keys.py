"""Parsing and checking PEM keys: the one place that decides which keys are acceptable.

Accepted: Ed25519 and RSA public keys as PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) or
``RSA PUBLIC KEY`` (PKCS#1); private keys as PEM ``PRIVATE KEY`` (PKCS#8) or ``RSA PRIVATE KEY``.
Encrypted private keys, certificates, OpenSSH and DER input are refused. RSA must be at least
2048 bits (we generate 3072) and at most 8192 (a bound on the cost of one verification).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from Crypto.PublicKey import ECC, RSA

from .errors import CryptoError, InvalidKey

ED25519 = "ed25519"
RSA_PSS_SHA256 = "rsa-pss-sha256"
RSA_OAEP_SHA256 = "rsa-oaep-sha256"
SIGNATURE_ALGORITHMS = (ED25519, RSA_PSS_SHA256)

RSA_GENERATE_BITS = 3072
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192
MAX_PEM_CHARS = 16_384

Purpose = Literal["signing", "encryption"]
PURPOSES = ("signing", "encryption")

_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{1,40})-----\n"
    r"(?P<body>[A-Za-z0-9+/=\n]+)\n"
    r"-----END (?P=label)-----"
)
_PUBLIC_LABELS = frozenset({"PUBLIC KEY", "RSA PUBLIC KEY"})
_PRIVATE_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY"})

AnyKey = RSA.RsaKey | ECC.EccKey


@dataclass(frozen=True)
class PublicKeyInfo:
    """What `inspect_public_key` found: store these rather than re-deriving them.

    algorithm: "ed25519" or "rsa-pss-sha256" for signing keys, "rsa-oaep-sha256" for encryption
    keys (the value to pass as `algorithm=` to sign/verify). fingerprint: hex SHA-256 of the DER
    SubjectPublicKeyInfo. public_pem: the key re-encoded as SubjectPublicKeyInfo PEM.
    """

    algorithm: str
    size_bits: int
    fingerprint: str
    public_pem: str


def _pem_text(pem: object, labels: frozenset[str], kind: str) -> str:
    if isinstance(pem, bytes | bytearray):
        try:
            pem = bytes(pem).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidKey(f"{kind} must be ASCII PEM text") from None
    if not isinstance(pem, str):
        raise InvalidKey(f"{kind} must be PEM text, not {type(pem).__name__}")
    if len(pem) > MAX_PEM_CHARS:
        raise InvalidKey(f"{kind} is longer than {MAX_PEM_CHARS} characters")
    # Tolerate copy-paste damage (CRLF, indentation, blank lines); the structure must still hold.
    lines = [line.strip() for line in pem.replace("\r\n", "\n").split("\n")]
    text = "\n".join(line for line in lines if line)
    match = _PEM.fullmatch(text)
    if match is None:
        raise InvalidKey(f"{kind} is not a single PEM block")
    label = match["label"]
    if label not in labels:
        expected = " or ".join(sorted(labels))
        raise InvalidKey(f"{kind} is a PEM {label!r}; expected {expected}")
    return text + "\n"


def _import(text: str, kind: str) -> AnyKey:
    try:
        return RSA.import_key(text)
    except (ValueError, IndexError, TypeError, KeyError):
        pass
    try:
        key = ECC.import_key(text)
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        raise InvalidKey(f"{kind} could not be parsed as an RSA or Ed25519 key") from exc
    if key.curve != "Ed25519":
        raise InvalidKey(f"{kind} is an {key.curve} key; only Ed25519 and RSA are accepted")
    return key


def _check_rsa_size(key: RSA.RsaKey, kind: str) -> None:
    bits = key.size_in_bits()
    if bits < RSA_MIN_BITS:
        raise InvalidKey(f"{kind} is RSA-{bits}; at least RSA-{RSA_MIN_BITS} is required")
    if bits > RSA_MAX_BITS:
        raise InvalidKey(f"{kind} is RSA-{bits}; at most RSA-{RSA_MAX_BITS} is accepted")


def load_public_key(public_pem: str | bytes) -> AnyKey:
    """A parsed Ed25519 or RSA (size-checked) public key; InvalidKey for anything else."""
    kind = "public key"
    key = _import(_pem_text(public_pem, _PUBLIC_LABELS, kind), kind)
    if key.has_private():  # a private body under a PUBLIC KEY label
        raise InvalidKey("this is a private key: upload only the public key")
    if isinstance(key, RSA.RsaKey):
        _check_rsa_size(key, kind)
    return key


def load_private_key(private_pem: str | bytes) -> AnyKey:
    """A parsed Ed25519 or RSA (size-checked) private key; InvalidKey for anything else."""
    kind = "private key"
    key = _import(_pem_text(private_pem, _PRIVATE_LABELS, kind), kind)
    if not key.has_private():
        raise InvalidKey("expected a private key")
    if isinstance(key, RSA.RsaKey):
        _check_rsa_size(key, kind)
    return key


def load_rsa_public_key(public_pem: str | bytes) -> RSA.RsaKey:
    key = load_public_key(public_pem)
    if not isinstance(key, RSA.RsaKey):
        raise InvalidKey("an RSA public key is required")
    return key


def load_rsa_private_key(private_pem: str | bytes) -> RSA.RsaKey:
    key = load_private_key(private_pem)
    if not isinstance(key, RSA.RsaKey):
        raise InvalidKey("an RSA private key is required")
    return key


def public_key_pem(key: AnyKey) -> str:
    """SubjectPublicKeyInfo PEM of the public half, ending in one newline."""
    pem = key.public_key().export_key(format="PEM")
    if isinstance(pem, bytes):
        pem = pem.decode("ascii")
    return pem.strip() + "\n"


def private_key_pem(key: AnyKey) -> str:
    """Unencrypted PKCS#8 PEM of a private key, ending in one newline."""
    if isinstance(key, RSA.RsaKey):
        pem: str | bytes = key.export_key(format="PEM", pkcs=8)
    else:
        pem = key.export_key(format="PEM")
    if isinstance(pem, bytes):
        pem = pem.decode("ascii")
    return pem.strip() + "\n"


def key_fingerprint(key: AnyKey) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo of the public half (same as
    ``openssl pkey -pubin -outform DER | sha256sum``)."""
    return hashlib.sha256(key.public_key().export_key(format="DER")).hexdigest()


def inspect_public_key(public_pem: str, *, purpose: str) -> PublicKeyInfo:
    """Validate an uploaded public key for `purpose` ("signing" or "encryption").

    signing: Ed25519, or RSA of 2048..8192 bits (verified as RSA-PSS-SHA256).
    encryption: RSA of 2048..8192 bits only (RSA-OAEP-SHA256). Raises InvalidKey with a message
    fit to show the uploader.
    """
    if purpose not in PURPOSES:
        raise CryptoError(f"unknown key purpose {purpose!r}; expected 'signing' or 'encryption'")
    key = load_public_key(public_pem)
    if isinstance(key, RSA.RsaKey):
        algorithm = RSA_PSS_SHA256 if purpose == "signing" else RSA_OAEP_SHA256
        size_bits = key.size_in_bits()
    else:
        if purpose == "encryption":
            raise InvalidKey("an Ed25519 key can only sign; an encryption key must be RSA")
        algorithm = ED25519
        size_bits = 256
    return PublicKeyInfo(
        algorithm=algorithm,
        size_bits=size_bits,
        fingerprint=key_fingerprint(key),
        public_pem=public_key_pem(key),
    )
