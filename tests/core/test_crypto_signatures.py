import base64
import hashlib

import pytest

from core import crypto

from . import pem_fixtures as fixed
from .conftest import flip_bit

ALGORITHMS = ["ed25519", "rsa-pss-sha256"]
MESSAGE = b'{"order":"7f1c","amount_minor":1250,"currency":"EUR"}'


def _spki_der(public_pem: str) -> bytes:
    body = "".join(line for line in public_pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


# --- generate / sign / verify -------------------------------------------------------------------


def test_generated_ed25519_keys_are_pkcs8_and_spki_pem(ed25519_pair):
    private_pem, public_pem = ed25519_pair
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert public_pem.endswith("-----END PUBLIC KEY-----\n")


def test_generated_rsa_signing_key_is_3072_bits(rsa_pss_pair):
    info = crypto.inspect_public_key(rsa_pss_pair[1], purpose="signing")
    assert (info.algorithm, info.size_bits) == ("rsa-pss-sha256", 3072)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sign_verify_round_trip(signing_pairs, algorithm):
    private_pem, public_pem = signing_pairs[algorithm]

    signature = crypto.sign(private_pem, MESSAGE, algorithm=algorithm)

    assert crypto.verify(public_pem, MESSAGE, signature, algorithm=algorithm) is None


def test_ed25519_signature_is_64_bytes_and_deterministic(ed25519_pair):
    first = crypto.sign(ed25519_pair[0], MESSAGE, algorithm="ed25519")
    assert len(first) == 64
    assert crypto.sign(ed25519_pair[0], MESSAGE, algorithm="ed25519") == first


def test_rsa_pss_signature_is_randomised_and_modulus_sized(rsa_pss_pair):
    first = crypto.sign(rsa_pss_pair[0], MESSAGE, algorithm="rsa-pss-sha256")
    second = crypto.sign(rsa_pss_pair[0], MESSAGE, algorithm="rsa-pss-sha256")
    assert len(first) == 3072 // 8
    assert first != second  # random salt; both verify
    crypto.verify(rsa_pss_pair[1], MESSAGE, second, algorithm="rsa-pss-sha256")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_signature_over_another_message_fails(signing_pairs, algorithm):
    private_pem, public_pem = signing_pairs[algorithm]
    signature = crypto.sign(private_pem, MESSAGE, algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(public_pem, MESSAGE + b" ", signature, algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(public_pem, flip_bit(MESSAGE, 3), signature, algorithm=algorithm)


@pytest.mark.parametrize(
    ("algorithm", "other"),
    [("ed25519", "other_ed25519_pair"), ("rsa-pss-sha256", "other_rsa_pss_pair")],
)
def test_signature_by_another_key_fails(request, signing_pairs, algorithm, other):
    other_private, _ = request.getfixturevalue(other)
    signature = crypto.sign(other_private, MESSAGE, algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(signing_pairs[algorithm][1], MESSAGE, signature, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("index", [0, 31, -1])
def test_tampered_signature_fails(signing_pairs, algorithm, index):
    private_pem, public_pem = signing_pairs[algorithm]
    signature = crypto.sign(private_pem, MESSAGE, algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(public_pem, MESSAGE, flip_bit(signature, index), algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cut", [0, 1, 63])
def test_truncated_or_extended_signature_fails(signing_pairs, algorithm, cut):
    private_pem, public_pem = signing_pairs[algorithm]
    signature = crypto.sign(private_pem, MESSAGE, algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(public_pem, MESSAGE, signature[:cut], algorithm=algorithm)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(public_pem, MESSAGE, signature + b"\x00", algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["rsa", "RSA-PSS-SHA256", "ed448", "", None, "hs256"])
def test_unknown_algorithm_names_are_refused(ed25519_pair, algorithm):
    with pytest.raises(crypto.CryptoError, match="unknown signature algorithm"):
        crypto.sign(ed25519_pair[0], MESSAGE, algorithm=algorithm)
    with pytest.raises(crypto.CryptoError, match="unknown signature algorithm"):
        crypto.verify(ed25519_pair[1], MESSAGE, b"x" * 64, algorithm=algorithm)
    with pytest.raises(crypto.CryptoError, match="unknown signature algorithm"):
        crypto.generate_signing_key(algorithm)


def test_key_type_must_match_the_algorithm(ed25519_pair, rsa_pss_pair):
    with pytest.raises(crypto.InvalidKey):
        crypto.sign(ed25519_pair[0], MESSAGE, algorithm="rsa-pss-sha256")
    with pytest.raises(crypto.InvalidKey):
        crypto.sign(rsa_pss_pair[0], MESSAGE, algorithm="ed25519")
    signature = crypto.sign(ed25519_pair[0], MESSAGE, algorithm="ed25519")
    with pytest.raises(crypto.InvalidKey):
        crypto.verify(rsa_pss_pair[1], MESSAGE, signature, algorithm="ed25519")


def test_rsa_2048_keys_are_accepted_for_signing():
    signature = crypto.sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE, algorithm="rsa-pss-sha256")
    crypto.verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE, signature, algorithm="rsa-pss-sha256")
    # The traditional PKCS#1 encodings of the same key work too.
    signature = crypto.sign(fixed.RSA_2048_PKCS1_PRIVATE_PEM, MESSAGE, algorithm="rsa-pss-sha256")
    crypto.verify(fixed.RSA_2048_PKCS1_PUBLIC_PEM, MESSAGE, signature, algorithm="rsa-pss-sha256")


def test_rsa_1024_keys_are_refused_for_signing_and_verifying():
    with pytest.raises(crypto.InvalidKey, match="at least RSA-2048"):
        crypto.sign(fixed.RSA_1024_PRIVATE_PEM, MESSAGE, algorithm="rsa-pss-sha256")
    with pytest.raises(crypto.InvalidKey, match="at least RSA-2048"):
        crypto.verify(fixed.RSA_1024_PUBLIC_PEM, MESSAGE, b"x" * 128, algorithm="rsa-pss-sha256")


def test_public_key_cannot_sign_and_private_key_is_not_a_public_key(ed25519_pair):
    with pytest.raises(crypto.InvalidKey):
        crypto.sign(ed25519_pair[1], MESSAGE, algorithm="ed25519")
    signature = crypto.sign(ed25519_pair[0], MESSAGE, algorithm="ed25519")
    with pytest.raises(crypto.InvalidKey):
        crypto.verify(ed25519_pair[0], MESSAGE, signature, algorithm="ed25519")


@pytest.mark.parametrize("message", ["text", None, 42])
def test_non_bytes_messages_raise_crypto_error(ed25519_pair, message):
    with pytest.raises(crypto.CryptoError):
        crypto.sign(ed25519_pair[0], message, algorithm="ed25519")
    with pytest.raises(crypto.CryptoError):
        crypto.verify(ed25519_pair[1], message, b"x" * 64, algorithm="ed25519")
    with pytest.raises(crypto.CryptoError):
        crypto.verify(ed25519_pair[1], b"m", message, algorithm="ed25519")


# --- inspect_public_key ---------------------------------------------------------------------------


def test_inspect_ed25519_signing_key(ed25519_pair):
    public_pem = ed25519_pair[1]

    info = crypto.inspect_public_key(public_pem, purpose="signing")

    assert info.algorithm == "ed25519"
    assert info.size_bits == 256
    assert info.public_pem == public_pem
    assert info.fingerprint == hashlib.sha256(_spki_der(public_pem)).hexdigest()
    assert len(info.fingerprint) == 64


def test_inspect_rsa_key_for_each_purpose():
    signing = crypto.inspect_public_key(fixed.RSA_2048_PUBLIC_PEM, purpose="signing")
    encryption = crypto.inspect_public_key(fixed.RSA_2048_PUBLIC_PEM, purpose="encryption")

    assert (signing.algorithm, signing.size_bits) == ("rsa-pss-sha256", 2048)
    assert (encryption.algorithm, encryption.size_bits) == ("rsa-oaep-sha256", 2048)
    expected = hashlib.sha256(_spki_der(fixed.RSA_2048_PUBLIC_PEM)).hexdigest()
    assert signing.fingerprint == encryption.fingerprint == expected


def test_inspect_normalises_pkcs1_and_messy_pem_to_the_same_key():
    reference = crypto.inspect_public_key(fixed.RSA_2048_PUBLIC_PEM, purpose="signing")
    pkcs1 = crypto.inspect_public_key(fixed.RSA_2048_PKCS1_PUBLIC_PEM, purpose="signing")
    messy = "\r\n".join("  " + line for line in fixed.RSA_2048_PUBLIC_PEM.splitlines()) + "\r\n\r\n"
    pasted = crypto.inspect_public_key(messy, purpose="signing")
    as_bytes = crypto.inspect_public_key(fixed.RSA_2048_PUBLIC_PEM.encode(), purpose="signing")

    assert pkcs1 == reference
    assert pasted == reference
    assert as_bytes == reference
    assert reference.public_pem == fixed.RSA_2048_PUBLIC_PEM


def test_ed25519_key_is_refused_for_encryption(ed25519_pair):
    with pytest.raises(crypto.InvalidKey, match="can only sign"):
        crypto.inspect_public_key(ed25519_pair[1], purpose="encryption")


@pytest.mark.parametrize("purpose", ["signing", "encryption"])
def test_rsa_1024_is_refused(purpose):
    with pytest.raises(crypto.InvalidKey, match="RSA-1024; at least RSA-2048"):
        crypto.inspect_public_key(fixed.RSA_1024_PUBLIC_PEM, purpose=purpose)


def test_other_curves_are_refused():
    with pytest.raises(crypto.InvalidKey, match="P-256"):
        crypto.inspect_public_key(fixed.P256_PUBLIC_PEM, purpose="signing")


def test_unknown_purpose_is_refused(ed25519_pair):
    with pytest.raises(crypto.CryptoError, match="unknown key purpose"):
        crypto.inspect_public_key(ed25519_pair[1], purpose="wrapping")


def _replace_body(pem: str, new_body: str) -> str:
    lines = pem.strip().splitlines()
    return "\n".join([lines[0], new_body, lines[-1]]) + "\n"


@pytest.mark.parametrize(
    "bad_pem",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMCowBQYDK2VwAyEA\n-----END CERTIFICATE-----\n",
        fixed.RSA_2048_PUBLIC_PEM * 2,
        fixed.RSA_2048_PUBLIC_PEM[:200],
        fixed.RSA_2048_PUBLIC_PEM.replace("-----BEGIN PUBLIC KEY-----\n", ""),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGYkYF7p0c0tx4y7N5r1z4zJ0kQqz+4F1vVJ2G2K9o9u x@y",
        "-----BEGIN PUBLIC KEY-----\n" + "A" * 20_000 + "\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAé\n-----END PUBLIC KEY-----\n",
        "\xff\xfe".encode("latin-1"),
        None,
        42,
    ],
)
def test_malformed_public_keys_raise_crypto_error(bad_pem):
    with pytest.raises(crypto.InvalidKey):
        crypto.inspect_public_key(bad_pem, purpose="signing")


def test_truncated_der_body_is_refused():
    body = "".join(fixed.RSA_2048_PUBLIC_PEM.strip().splitlines()[1:-1])
    truncated = base64.b64encode(base64.b64decode(body)[:-10]).decode()
    with pytest.raises(crypto.InvalidKey):
        crypto.inspect_public_key(
            _replace_body(fixed.RSA_2048_PUBLIC_PEM, truncated), purpose="signing"
        )


def test_private_keys_are_refused_as_public_keys(ed25519_pair):
    with pytest.raises(crypto.InvalidKey):
        crypto.inspect_public_key(ed25519_pair[0], purpose="signing")
    # A private key's body under a PUBLIC KEY label is caught too.
    private_body = "\n".join(fixed.RSA_2048_PRIVATE_PEM.strip().splitlines()[1:-1])
    disguised = _replace_body(fixed.RSA_2048_PUBLIC_PEM, private_body)
    with pytest.raises(crypto.InvalidKey, match="private key"):
        crypto.inspect_public_key(disguised, purpose="signing")


def test_encrypted_private_keys_are_refused():
    encrypted = fixed.RSA_2048_PRIVATE_PEM.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    with pytest.raises(crypto.InvalidKey, match="ENCRYPTED PRIVATE KEY"):
        crypto.sign(encrypted, MESSAGE, algorithm="rsa-pss-sha256")


# --- RSA-SHA256 PKCS#1 v1.5 ----------------------------------------------------------------------


def test_pkcs1v15_round_trip_is_deterministic():
    signature = crypto.rsa_pkcs1v15_sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE)

    assert len(signature) == 256
    assert crypto.rsa_pkcs1v15_sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE) == signature
    assert crypto.rsa_pkcs1v15_verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE, signature) is None


def test_pkcs1v15_refuses_other_message_other_key_and_tampering(rsa_pss_pair):
    signature = crypto.rsa_pkcs1v15_sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE)
    with pytest.raises(crypto.InvalidSignature):
        crypto.rsa_pkcs1v15_verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE + b"x", signature)
    with pytest.raises(crypto.InvalidSignature):
        crypto.rsa_pkcs1v15_verify(rsa_pss_pair[1], MESSAGE, signature)
    with pytest.raises(crypto.InvalidSignature):
        crypto.rsa_pkcs1v15_verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE, flip_bit(signature, 100))
    with pytest.raises(crypto.InvalidSignature):
        crypto.rsa_pkcs1v15_verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE, signature[:-1])


def test_pkcs1v15_and_pss_signatures_do_not_cross_verify():
    pss_signature = crypto.sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE, algorithm="rsa-pss-sha256")
    pkcs_signature = crypto.rsa_pkcs1v15_sign(fixed.RSA_2048_PRIVATE_PEM, MESSAGE)
    with pytest.raises(crypto.InvalidSignature):
        crypto.rsa_pkcs1v15_verify(fixed.RSA_2048_PUBLIC_PEM, MESSAGE, pss_signature)
    with pytest.raises(crypto.InvalidSignature):
        crypto.verify(
            fixed.RSA_2048_PUBLIC_PEM, MESSAGE, pkcs_signature, algorithm="rsa-pss-sha256"
        )


def test_pkcs1v15_needs_rsa_of_at_least_2048_bits(ed25519_pair):
    with pytest.raises(crypto.InvalidKey):
        crypto.rsa_pkcs1v15_sign(ed25519_pair[0], MESSAGE)
    with pytest.raises(crypto.InvalidKey):
        crypto.rsa_pkcs1v15_verify(ed25519_pair[1], MESSAGE, b"x" * 256)
    with pytest.raises(crypto.InvalidKey):
        crypto.rsa_pkcs1v15_sign(fixed.RSA_1024_PRIVATE_PEM, MESSAGE)
