import struct

import pytest

from core import crypto

from . import pem_fixtures as fixed
from .conftest import flip_bit

DOCUMENT = "Bestellung 7f1c: 2 Stück Teekanne, Lieferung nach Köln".encode()


def test_generated_encryption_key_is_rsa_3072(encryption_pair):
    info = crypto.inspect_public_key(encryption_pair[1], purpose="encryption")
    assert (info.algorithm, info.size_bits) == ("rsa-oaep-sha256", 3072)


def test_seal_and_open_round_trip(encryption_pair):
    private_pem, public_pem = encryption_pair

    sealed = crypto.seal(public_pem, DOCUMENT, associated_data=b"order:7f1c")

    assert crypto.open_sealed(private_pem, sealed, associated_data=b"order:7f1c") == DOCUMENT
    # version | uint16 length | 384-byte OAEP block | nonce | ciphertext | tag
    assert sealed[0] == 1
    assert struct.unpack(">H", sealed[1:3]) == (384,)
    assert len(sealed) == 3 + 384 + 12 + len(DOCUMENT) + 16
    assert b"Teekanne" not in sealed


def test_default_associated_data_is_empty(encryption_pair):
    sealed = crypto.seal(encryption_pair[1], b"")
    assert crypto.open_sealed(encryption_pair[0], sealed) == b""
    assert crypto.open_sealed(encryption_pair[0], sealed, associated_data=b"") == b""


def test_each_seal_is_fresh(encryption_pair):
    assert crypto.seal(encryption_pair[1], DOCUMENT) != crypto.seal(encryption_pair[1], DOCUMENT)


def test_seal_opened_by_another_private_key_fails(encryption_pair, other_encryption_pair):
    sealed = crypto.seal(encryption_pair[1], DOCUMENT)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(other_encryption_pair[0], sealed)


def test_seal_for_a_key_of_another_size_fails(encryption_pair):
    sealed = crypto.seal(encryption_pair[1], DOCUMENT)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(fixed.RSA_2048_PRIVATE_PEM, sealed)


def test_2048_bit_recipients_work():
    sealed = crypto.seal(fixed.RSA_2048_PUBLIC_PEM, DOCUMENT, associated_data=b"a")
    assert (
        crypto.open_sealed(fixed.RSA_2048_PKCS1_PRIVATE_PEM, sealed, associated_data=b"a")
        == DOCUMENT
    )


def test_wrong_associated_data_fails(encryption_pair):
    sealed = crypto.seal(encryption_pair[1], DOCUMENT, associated_data=b"order:1")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(encryption_pair[0], sealed, associated_data=b"order:2")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(encryption_pair[0], sealed)


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("version", 0),
        ("length", 1),
        ("length low byte", 2),
        ("wrapped key first byte", 3),
        ("wrapped key last byte", 3 + 383),
        ("nonce", 3 + 384),
        ("ciphertext", 3 + 384 + 12),
        ("tag", -1),
    ],
)
def test_tampering_anywhere_is_detected(encryption_pair, where, index):
    sealed = crypto.seal(encryption_pair[1], DOCUMENT)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(encryption_pair[0], flip_bit(sealed, index))


@pytest.mark.parametrize("length", [0, 1, 3, 100, 387, 3 + 384 + 12 + 15])
def test_truncated_seals_are_refused(encryption_pair, length):
    sealed = crypto.seal(encryption_pair[1], b"")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(encryption_pair[0], sealed[:length])


def test_seal_needs_an_rsa_encryption_key(ed25519_pair):
    with pytest.raises(crypto.InvalidKey):
        crypto.seal(ed25519_pair[1], DOCUMENT)
    with pytest.raises(crypto.InvalidKey):
        crypto.seal(fixed.RSA_1024_PUBLIC_PEM, DOCUMENT)
    with pytest.raises(crypto.InvalidKey):
        crypto.seal("garbage", DOCUMENT)


def test_open_needs_an_rsa_private_key(encryption_pair, ed25519_pair):
    sealed = crypto.seal(encryption_pair[1], DOCUMENT)
    with pytest.raises(crypto.InvalidKey):
        crypto.open_sealed(encryption_pair[1], sealed)
    with pytest.raises(crypto.InvalidKey):
        crypto.open_sealed(ed25519_pair[0], sealed)


def test_non_bytes_arguments_raise_crypto_error(encryption_pair):
    with pytest.raises(crypto.CryptoError):
        crypto.seal(encryption_pair[1], "text")
    with pytest.raises(crypto.CryptoError):
        crypto.seal(encryption_pair[1], b"x", associated_data="ad")
    with pytest.raises(crypto.CryptoError):
        crypto.open_sealed(encryption_pair[0], "sealed")
