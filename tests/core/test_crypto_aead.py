import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import crypto
from core.crypto.aead import NONCE_BYTES, TAG_BYTES

from .conftest import flip_bit

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def test_round_trip_with_associated_data():
    blob = crypto.aead_encrypt(b"4111 1111 1111 1111", key=KEY, associated_data=b"card:1")

    assert crypto.aead_decrypt(blob, key=KEY, associated_data=b"card:1") == b"4111 1111 1111 1111"
    # version byte, 12-byte nonce, ciphertext as long as the plaintext, 16-byte tag
    assert len(blob) == 1 + NONCE_BYTES + 19 + TAG_BYTES
    assert blob[0] == 1


def test_empty_plaintext_round_trips():
    blob = crypto.aead_encrypt(b"", key=KEY, associated_data=b"")
    assert crypto.aead_decrypt(blob, key=KEY, associated_data=b"") == b""


def test_each_encryption_uses_a_fresh_nonce():
    first = crypto.aead_encrypt(b"same", key=KEY, associated_data=b"ad")
    second = crypto.aead_encrypt(b"same", key=KEY, associated_data=b"ad")
    assert first[1 : 1 + NONCE_BYTES] != second[1 : 1 + NONCE_BYTES]
    assert first != second


def test_plaintext_does_not_appear_in_the_blob():
    blob = crypto.aead_encrypt(b"secret-secret-secret", key=KEY, associated_data=b"")
    assert b"secret" not in blob


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("version", 0),
        ("nonce first byte", 1),
        ("nonce last byte", NONCE_BYTES),
        ("ciphertext", 1 + NONCE_BYTES),
        ("ciphertext last byte", -TAG_BYTES - 1),
        ("tag first byte", -TAG_BYTES),
        ("tag last byte", -1),
    ],
)
def test_tampering_anywhere_is_detected(where, index):
    blob = crypto.aead_encrypt(b"payload", key=KEY, associated_data=b"ad")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(flip_bit(blob, index), key=KEY, associated_data=b"ad")


def test_tampered_associated_data_is_detected():
    blob = crypto.aead_encrypt(b"payload", key=KEY, associated_data=b"order:1")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.aead_decrypt(blob, key=KEY, associated_data=b"order:2")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.aead_decrypt(blob, key=KEY, associated_data=flip_bit(b"order:1", 0))
    with pytest.raises(crypto.DecryptionFailed):
        crypto.aead_decrypt(blob, key=KEY, associated_data=b"")


def test_wrong_key_is_refused():
    blob = crypto.aead_encrypt(b"payload", key=KEY, associated_data=b"")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.aead_decrypt(blob, key=OTHER_KEY, associated_data=b"")


@pytest.mark.parametrize("length", [0, 1, 12, 13, 28, 29])
def test_truncated_blobs_are_refused(length):
    blob = crypto.aead_encrypt(b"payload", key=KEY, associated_data=b"")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(blob[:length], key=KEY, associated_data=b"")


def test_blob_missing_its_last_byte_is_refused():
    blob = crypto.aead_encrypt(b"payload", key=KEY, associated_data=b"")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(blob[:-1], key=KEY, associated_data=b"")


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(24), bytes(33), "k" * 32, None])
def test_keys_other_than_32_bytes_are_refused(key):
    with pytest.raises(crypto.CryptoError):
        crypto.aead_encrypt(b"payload", key=key, associated_data=b"")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(bytes(64), key=key, associated_data=b"")


@pytest.mark.parametrize("bad", ["text", None, 123])
def test_non_bytes_arguments_raise_crypto_error(bad):
    with pytest.raises(crypto.CryptoError):
        crypto.aead_encrypt(bad, key=KEY, associated_data=b"")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_encrypt(b"x", key=KEY, associated_data=bad)
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(bad, key=KEY, associated_data=b"")


def test_new_data_key_is_32_random_bytes():
    keys = {crypto.new_data_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(isinstance(key, bytes) and len(key) == 32 for key in keys)


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=256),
    associated_data=st.binary(max_size=64),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_single_bit_flip_is_detected(plaintext, associated_data, position, bit):
    blob = crypto.aead_encrypt(plaintext, key=KEY, associated_data=associated_data)
    assert crypto.aead_decrypt(blob, key=KEY, associated_data=associated_data) == plaintext
    tampered = flip_bit(blob, position % len(blob), bit)
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(tampered, key=KEY, associated_data=associated_data)
