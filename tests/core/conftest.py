"""Key pairs made once per test session (RSA-3072 generation takes a fraction of a second each)."""

import pytest

from core import crypto


@pytest.fixture(scope="session")
def ed25519_pair() -> tuple[str, str]:
    return crypto.generate_signing_key("ed25519")


@pytest.fixture(scope="session")
def other_ed25519_pair() -> tuple[str, str]:
    return crypto.generate_signing_key("ed25519")


@pytest.fixture(scope="session")
def rsa_pss_pair() -> tuple[str, str]:
    return crypto.generate_signing_key("rsa-pss-sha256")


@pytest.fixture(scope="session")
def other_rsa_pss_pair() -> tuple[str, str]:
    return crypto.generate_signing_key("rsa-pss-sha256")


@pytest.fixture(scope="session")
def encryption_pair() -> tuple[str, str]:
    return crypto.generate_encryption_key()


@pytest.fixture(scope="session")
def other_encryption_pair() -> tuple[str, str]:
    return crypto.generate_encryption_key()


@pytest.fixture(scope="session")
def signing_pairs(ed25519_pair, rsa_pss_pair) -> dict[str, tuple[str, str]]:
    return {"ed25519": ed25519_pair, "rsa-pss-sha256": rsa_pss_pair}


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    """`data` with one bit changed at byte `index` (negative counts from the end)."""
    mutable = bytearray(data)
    mutable[index] ^= 1 << bit
    return bytes(mutable)
