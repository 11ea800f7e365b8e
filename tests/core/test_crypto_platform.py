import base64
import hashlib

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import crypto

from .conftest import flip_bit

# RFC 8032 section 7.1, test 1: known seed, public key and signature of the empty message.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
OTHER_SEED_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def rfc8032_key(settings):
    settings.CLEARHOUSE_SIGNING_KEY = base64.b64encode(RFC8032_SEED).decode()


def test_platform_key_matches_the_rfc8032_vector(rfc8032_key):
    spki = ED25519_SPKI_PREFIX + RFC8032_PUBLIC
    expected_pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(spki).decode()
        + "\n-----END PUBLIC KEY-----\n"
    )

    assert crypto.platform_public_key_pem() == expected_pem
    assert crypto.platform_key_id() == hashlib.sha256(spki).hexdigest()[:16]
    assert crypto.platform_sign(b"") == (crypto.platform_key_id(), RFC8032_SIGNATURE)


def test_platform_signature_verifies_with_the_published_key(rfc8032_key):
    key_id, signature = crypto.platform_sign(b"seal:42")

    crypto.platform_verify(b"seal:42", signature)
    crypto.platform_verify(b"seal:42", signature, public_pem=crypto.platform_public_key_pem())
    crypto.verify(crypto.platform_public_key_pem(), b"seal:42", signature, algorithm="ed25519")
    assert (
        key_id
        == crypto.inspect_public_key(
            crypto.platform_public_key_pem(), purpose="signing"
        ).fingerprint[:16]
    )


def test_platform_verify_refuses_tampering(rfc8032_key):
    _, signature = crypto.platform_sign(b"seal:42")
    with pytest.raises(crypto.InvalidSignature):
        crypto.platform_verify(b"seal:43", signature)
    with pytest.raises(crypto.InvalidSignature):
        crypto.platform_verify(b"seal:42", flip_bit(signature, 10))
    with pytest.raises(crypto.InvalidSignature):
        crypto.platform_verify(b"seal:42", signature[:-1])


def test_platform_verify_with_another_public_key_fails(rfc8032_key, ed25519_pair):
    _, signature = crypto.platform_sign(b"seal:42")
    with pytest.raises(crypto.InvalidSignature):
        crypto.platform_verify(b"seal:42", signature, public_pem=ed25519_pair[1])


def test_signatures_by_a_rotated_out_key_verify_only_with_its_published_key(settings):
    settings.CLEARHOUSE_SIGNING_KEY = base64.b64encode(RFC8032_SEED).decode()
    old_id, old_signature = crypto.platform_sign(b"receipt")
    old_public_pem = crypto.platform_public_key_pem()

    settings.CLEARHOUSE_SIGNING_KEY = OTHER_SEED_B64

    assert crypto.platform_key_id() != old_id
    with pytest.raises(crypto.InvalidSignature):
        crypto.platform_verify(b"receipt", old_signature)
    crypto.platform_verify(b"receipt", old_signature, public_pem=old_public_pem)


def test_the_test_settings_signing_key_is_usable():
    key_id, signature = crypto.platform_sign(b"x")
    assert len(key_id) == 16
    crypto.platform_verify(b"x", signature)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "is not set"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(bytes(16)).decode(), "is 16 bytes"),
        (base64.b64encode(bytes(64)).decode(), "is 64 bytes"),
        (None, "must be a string"),
    ],
)
def test_malformed_signing_key_setting_is_improperly_configured(settings, config, message):
    settings.CLEARHOUSE_SIGNING_KEY = config
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.platform_sign(b"x")
