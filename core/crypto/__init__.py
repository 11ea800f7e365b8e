"""Clearhouse cryptography: the only code in the project that imports pycryptodome (Crypto.*).

Every failure raises CryptoError (or a subclass): wrong key, tampered or truncated input, bad
padding, malformed PEM, unknown algorithm. See CONTRACTS.md for the interface; each submodule's
docstring states its formats and parameters.
"""

from .aead import aead_decrypt, aead_encrypt, new_data_key
from .errors import CryptoError, DecryptionFailed, InvalidKey, InvalidSignature
from .hashing import SCRYPT_N, constant_time_equal, derive_key_scrypt, hmac_sha256, sha256
from .keyring import (
    KeyRing,
    envelope_decrypt,
    envelope_encrypt,
    get_key_ring,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from .keys import (
    ED25519,
    RSA_OAEP_SHA256,
    RSA_PSS_SHA256,
    PublicKeyInfo,
    inspect_public_key,
)
from .platform_key import platform_key_id, platform_public_key_pem, platform_sign, platform_verify
from .sealing import generate_encryption_key, open_sealed, seal
from .signatures import (
    generate_signing_key,
    rsa_pkcs1v15_sign,
    rsa_pkcs1v15_verify,
    sign,
    signing_key_from_seed,
    verify,
)

__all__ = [
    "ED25519",
    "RSA_OAEP_SHA256",
    "RSA_PSS_SHA256",
    "SCRYPT_N",
    "CryptoError",
    "DecryptionFailed",
    "InvalidKey",
    "InvalidSignature",
    "KeyRing",
    "PublicKeyInfo",
    "aead_decrypt",
    "aead_encrypt",
    "constant_time_equal",
    "derive_key_scrypt",
    "envelope_decrypt",
    "envelope_encrypt",
    "generate_encryption_key",
    "generate_signing_key",
    "get_key_ring",
    "hmac_sha256",
    "inspect_public_key",
    "new_data_key",
    "open_sealed",
    "platform_key_id",
    "platform_public_key_pem",
    "platform_sign",
    "platform_verify",
    "rewrap_data_key",
    "rsa_pkcs1v15_sign",
    "rsa_pkcs1v15_verify",
    "seal",
    "sha256",
    "sign",
    "signing_key_from_seed",
    "unwrap_data_key",
    "verify",
    "wrap_data_key",
]
