import pytest

from core import crypto
from core.crypto import hashing


def test_sha256_known_answer():
    # FIPS 180-2 "abc"
    assert crypto.sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_hmac_sha256_known_answer():
    # RFC 4231 test case 2
    mac = crypto.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (b"abc", b"abc", True),
        (b"abc", b"abd", False),
        (b"abc", b"abcd", False),
        ("abc", b"abc", True),
        ("tökén", "tökén", True),
        ("tökén", "tökén".encode(), True),
        ("tökén", "token", False),
        ("", b"", True),
    ],
)
def test_constant_time_equal(a, b, equal):
    assert crypto.constant_time_equal(a, b) is equal


def test_non_bytes_inputs_raise_crypto_error():
    with pytest.raises(crypto.CryptoError):
        crypto.sha256("abc")
    with pytest.raises(crypto.CryptoError):
        crypto.hmac_sha256("key", b"m")
    with pytest.raises(crypto.CryptoError):
        crypto.constant_time_equal(None, b"")


def test_scrypt_parameters():
    assert crypto.SCRYPT_N == 2**15
    assert (hashing.SCRYPT_R, hashing.SCRYPT_P) == (8, 1)


def test_scrypt_is_deterministic_for_the_same_salt():
    salt = bytes(range(16))
    first = crypto.derive_key_scrypt("correct horse", salt)

    assert len(first) == 32
    assert crypto.derive_key_scrypt("correct horse", salt) == first
    assert crypto.derive_key_scrypt("correct horse", bytes(range(1, 17))) != first
    assert crypto.derive_key_scrypt("correct horsf", salt) != first
    assert len(crypto.derive_key_scrypt("correct horse", salt, length=64)) == 64


def test_scrypt_known_answer_with_the_rfc7914_parameters(monkeypatch):
    # RFC 7914 section 12, third vector (N=16384, r=8, p=1, 64 bytes); its salt is 14 bytes.
    monkeypatch.setattr(hashing, "SCRYPT_N", 2**14)
    monkeypatch.setattr(hashing, "SCRYPT_MIN_SALT_BYTES", 14)
    key = crypto.derive_key_scrypt("pleaseletmein", b"SodiumChloride", length=64)
    assert key.hex() == (
        "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
        "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
    )


@pytest.mark.parametrize(
    ("password", "salt", "length"),
    [
        ("pw", b"short", 32),
        ("pw", "sixteen-chars-xx", 32),
        (None, bytes(16), 32),
        ("pw", bytes(16), 8),
        ("pw", bytes(16), 65),
        ("pw", bytes(16), True),
        ("pw", bytes(16), 32.0),
    ],
)
def test_scrypt_refuses_bad_arguments(password, salt, length):
    with pytest.raises(crypto.CryptoError):
        crypto.derive_key_scrypt(password, salt, length=length)
