"""Private halves of DEMO sellers' keys (made by `seed_demo` only), kept encrypted.

Envelope encryption: a fresh AES-256-GCM data key per key, wrapped by the master key ring; the
associated data binds both to the SellerKey id, so a blob cannot be moved to another key.
Real sellers' private keys are never given to the platform; this exists so the demo can act as
its sellers (sign acceptances, open sealed order facts) without anyone handling PEM files.
"""

from __future__ import annotations

from accounts.models import DemoKeyMaterial, SellerKey
from core import crypto


def _associated_data(seller_key: SellerKey) -> bytes:
    return f"clearhouse:demo-private-key:{seller_key.id}".encode()


def demo_private_key_store(*, seller_key: SellerKey, private_pem: str) -> DemoKeyMaterial:
    associated_data = _associated_data(seller_key)
    data_key = crypto.new_data_key()
    master_key_id, wrapped = crypto.wrap_data_key(data_key, associated_data=associated_data)
    blob = crypto.aead_encrypt(
        private_pem.encode("ascii"), key=data_key, associated_data=associated_data
    )
    return DemoKeyMaterial.objects.create(
        seller_key=seller_key,
        master_key_id=master_key_id,
        wrapped_data_key=wrapped,
        private_pem_encrypted=blob,
    )


def demo_private_key_pem(seller_key: SellerKey) -> str | None:
    """The demo key's private PEM, or None when the key is not a demo key. Raises
    crypto.CryptoError if the master key it was wrapped with is gone or the blob was altered."""
    material = DemoKeyMaterial.objects.filter(seller_key=seller_key).first()
    if material is None:
        return None
    associated_data = _associated_data(seller_key)
    data_key = crypto.unwrap_data_key(
        material.master_key_id, bytes(material.wrapped_data_key), associated_data=associated_data
    )
    plaintext = crypto.aead_decrypt(
        bytes(material.private_pem_encrypted), key=data_key, associated_data=associated_data
    )
    return plaintext.decode("ascii")
