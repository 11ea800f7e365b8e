"""Our formats are the standard ones: OpenSSL verifies what we sign and we verify what it signs.

Skipped where no `openssl` binary is installed.
"""

import shutil
import subprocess

import pytest

from core import crypto

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line tool")
MESSAGE = b"interop message \xe2\x9c\x93"


def _openssl(*args: str, input_bytes: bytes | None = None) -> bytes:
    result = subprocess.run(
        [OPENSSL, *args], input=input_bytes, capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture
def files(tmp_path):
    def write(name: str, content: bytes | str):
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    return write


def test_openssl_verifies_our_ed25519_signature(ed25519_pair, files):
    signature = crypto.sign(ed25519_pair[0], MESSAGE, algorithm="ed25519")
    _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", files("pub.pem", ed25519_pair[1]), "-rawin",
        "-in", files("msg", MESSAGE), "-sigfile", files("sig", signature),
    )  # fmt: skip


def test_we_verify_an_openssl_ed25519_signature(ed25519_pair, files):
    signature = _openssl(
        "pkeyutl", "-sign", "-inkey", files("key.pem", ed25519_pair[0]), "-rawin",
        "-in", files("msg", MESSAGE),
    )  # fmt: skip
    crypto.verify(ed25519_pair[1], MESSAGE, signature, algorithm="ed25519")


PSS_OPTIONS = ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32")


def test_openssl_verifies_our_rsa_pss_signature(rsa_pss_pair, files):
    signature = crypto.sign(rsa_pss_pair[0], MESSAGE, algorithm="rsa-pss-sha256")
    _openssl(
        "dgst", "-sha256", *PSS_OPTIONS, "-verify", files("pub.pem", rsa_pss_pair[1]),
        "-signature", files("sig", signature), files("msg", MESSAGE),
    )  # fmt: skip


def test_we_verify_an_openssl_rsa_pss_signature(rsa_pss_pair, files):
    signature = _openssl(
        "dgst", "-sha256", *PSS_OPTIONS, "-sign", files("key.pem", rsa_pss_pair[0]),
        files("msg", MESSAGE),
    )  # fmt: skip
    crypto.verify(rsa_pss_pair[1], MESSAGE, signature, algorithm="rsa-pss-sha256")


def test_pkcs1v15_signatures_match_openssl_byte_for_byte(rsa_pss_pair, files):
    ours = crypto.rsa_pkcs1v15_sign(rsa_pss_pair[0], MESSAGE)
    theirs = _openssl(
        "dgst", "-sha256", "-sign", files("key.pem", rsa_pss_pair[0]), files("msg", MESSAGE)
    )
    assert ours == theirs
    crypto.rsa_pkcs1v15_verify(rsa_pss_pair[1], MESSAGE, theirs)


def test_openssl_unwraps_the_content_key_of_a_seal(encryption_pair, files):
    sealed = crypto.seal(encryption_pair[1], b"order facts")
    wrapped_length = int.from_bytes(sealed[1:3], "big")
    wrapped_key = sealed[3 : 3 + wrapped_length]

    content_key = _openssl(
        "pkeyutl", "-decrypt", "-inkey", files("key.pem", encryption_pair[0]),
        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
        "-pkeyopt", "rsa_mgf1_md:sha256", "-in", files("wrapped", wrapped_key),
    )  # fmt: skip

    assert len(content_key) == 32


def test_fingerprint_is_sha256_of_the_der_public_key(ed25519_pair, rsa_pss_pair, files):
    for _, public_pem in (ed25519_pair, rsa_pss_pair):
        der = _openssl("pkey", "-pubin", "-in", files("pub.pem", public_pem), "-outform", "DER")
        info = crypto.inspect_public_key(public_pem, purpose="signing")
        assert info.fingerprint == crypto.sha256(der).hex()


def test_scrypt_matches_openssl_with_the_production_parameters():
    salt = bytes(range(16))
    expected = _openssl(
        "kdf", "-keylen", "32", "-kdfopt", "pass:correct horse", "-kdfopt", f"hexsalt:{salt.hex()}",
        "-kdfopt", "n:32768", "-kdfopt", "r:8", "-kdfopt", "p:1", "SCRYPT",
    )  # fmt: skip
    ours = crypto.derive_key_scrypt("correct horse", salt)
    assert ours.hex().upper() == expected.decode().strip().replace(":", "")
