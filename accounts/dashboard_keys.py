"""Dashboard keys: a seller's platform-held key pairs, usable only with the seller's password.

Each seller who uses the dashboard (rather than their own software) gets an Ed25519 signing key and
an RSA-3072 encryption key, registered as ordinary SellerKey rows (origin "platform_held"). Their
private halves are stored encrypted with AES-256-GCM under scrypt(password, per-key random salt),
associated data = "clearhouse:dashboard-key:<key id>". The platform never keeps the password, so
it cannot sign an acceptance or open a sealed order for the seller unless the seller re-enters it.

    sign-up / login  -> dashboard_keys_ensure(seller, password)   (creates what is missing)
    password change  -> dashboard_keys_rewrap(seller, old, new)   (same keys, new lock)
    password reset   -> dashboard_keys_reset(seller, new)         (old password unknown: the old
                        keys are revoked, new ones made; accounts.key_listeners'
                        dashboard_keys_replaced is called so that the payments app re-seals open
                        orders to the new encryption key)
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts import key_listeners
from accounts.models import KeyOrigin, KeyPurpose, PlatformHeldKeyMaterial, Role, SellerKey, User
from core import crypto
from core.errors import ValidationError

logger = logging.getLogger(__name__)

SALT_BYTES = 16
SIGNING_ALGORITHM = crypto.ED25519
LABEL = "dashboard"


class WrongPassword(ValidationError):
    """The password is not right."""

    code = "wrong_password"


@dataclass(frozen=True)
class DashboardKeys:
    signing: SellerKey | None
    encryption: SellerKey | None

    @property
    def complete(self) -> bool:
        return self.signing is not None and self.encryption is not None


def _associated_data(key_id) -> bytes:
    return f"clearhouse:dashboard-key:{key_id}".encode()


def _lock(password: str, key_id, private_pem: str) -> tuple[bytes, bytes]:
    salt = secrets.token_bytes(SALT_BYTES)
    derived = crypto.derive_key_scrypt(password, salt)
    blob = crypto.aead_encrypt(
        private_pem.encode("ascii"), key=derived, associated_data=_associated_data(key_id)
    )
    return salt, blob


def _generate_pairs() -> dict[str, tuple[str, str]]:
    """{purpose: (private_pem, public_pem)}. A seam: tests replace it with cached pairs."""
    return {
        KeyPurpose.SIGNING: crypto.generate_signing_key(SIGNING_ALGORITHM),
        KeyPurpose.ENCRYPTION: crypto.generate_encryption_key(),
    }


def dashboard_keys_of(seller: User) -> DashboardKeys:
    """The seller's active dashboard keys (newest of each purpose)."""
    keys = SellerKey.objects.filter(
        seller=seller,
        origin=KeyOrigin.PLATFORM_HELD,
        revoked_at__isnull=True,
        held_material__isnull=False,
    ).order_by("-created_at")
    found: dict[str, SellerKey] = {}
    for key in keys:
        found.setdefault(key.purpose, key)
    return DashboardKeys(found.get(KeyPurpose.SIGNING), found.get(KeyPurpose.ENCRYPTION))


def _create_missing(seller: User, password: str) -> None:
    """Register whichever dashboard keys the seller lacks. Caller holds the seller's lock."""
    from accounts.services import _register_key

    current = dashboard_keys_of(seller)
    missing = [
        purpose
        for purpose, key in (
            (KeyPurpose.SIGNING, current.signing),
            (KeyPurpose.ENCRYPTION, current.encryption),
        )
        if key is None
    ]
    if not missing:
        return
    pairs = _generate_pairs()
    for purpose in missing:
        private_pem, public_pem = pairs[purpose]
        info = crypto.inspect_public_key(public_pem, purpose=purpose)
        key = _register_key(
            seller=seller, purpose=purpose, info=info, label=LABEL, origin=KeyOrigin.PLATFORM_HELD
        )
        salt, blob = _lock(password, key.id, private_pem)
        PlatformHeldKeyMaterial.objects.create(
            seller_key=key, salt=salt, private_pem_encrypted=blob
        )
        logger.info(
            "dashboard key created",
            extra={"seller_id": seller.pk, "key_id": str(key.id), "purpose": purpose},
        )


def dashboard_keys_ensure(*, seller: User, password: str) -> DashboardKeys:
    """Give a seller whatever dashboard keys are missing (the password is known right now: sign-up
    or login). Idempotent; a no-op for non-sellers and for a seller who has both."""
    if seller.role != Role.SELLER or not password:
        return DashboardKeys(None, None)
    current = dashboard_keys_of(seller)
    if current.complete:
        return current
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=seller.pk).first()  # one creator at a time
        _create_missing(seller, password)
    return dashboard_keys_of(seller)


def dashboard_keys_login(*, seller: User, password: str) -> DashboardKeys:
    """At login (the password was just checked): make missing dashboard keys, and replace keys the
    password no longer opens (the password was set some other way, e.g. by staff in admin)."""
    if seller.role != Role.SELLER or not password:
        return DashboardKeys(None, None)
    current = dashboard_keys_of(seller)
    if current.signing is not None:
        try:
            dashboard_private_pem(key=current.signing, password=password)
        except WrongPassword:
            logger.warning("dashboard keys locked by another password; replacing them")
            return dashboard_keys_reset(seller=seller, new_password=password)
    return dashboard_keys_ensure(seller=seller, password=password)


def dashboard_private_pem(*, key: SellerKey, password: str) -> str:
    """Unlock a dashboard key's private half. WrongPassword (field "password") if it does not open."""
    material = PlatformHeldKeyMaterial.objects.filter(seller_key=key).first()
    if material is None:
        raise ValidationError(
            "This key's private half is not held by the platform.", code="not_a_dashboard_key"
        )
    try:
        derived = crypto.derive_key_scrypt(password or "", bytes(material.salt))
        plaintext = crypto.aead_decrypt(
            bytes(material.private_pem_encrypted),
            key=derived,
            associated_data=_associated_data(key.id),
        )
    except crypto.CryptoError:
        raise WrongPassword("The password is not right.", field="password") from None
    return plaintext.decode("ascii")


def dashboard_keys_rewrap(*, seller: User, old_password: str, new_password: str) -> int:
    """Password change: lock the same keys under the new password. Returns how many were rewrapped.
    A key the old password does not open (it should) is revoked and a new one made instead."""
    rewrapped, lost = 0, []
    with transaction.atomic():
        keys = SellerKey.objects.select_for_update().filter(
            seller=seller, origin=KeyOrigin.PLATFORM_HELD, revoked_at__isnull=True
        )
        for key in keys:
            try:
                private_pem = dashboard_private_pem(key=key, password=old_password)
            except ValidationError:
                lost.append(key)
                continue
            salt, blob = _lock(new_password, key.id, private_pem)
            PlatformHeldKeyMaterial.objects.filter(seller_key=key).update(
                salt=salt, private_pem_encrypted=blob, updated_at=timezone.now()
            )
            rewrapped += 1
    if lost:
        logger.warning("dashboard keys not opened by the old password", extra={"n": len(lost)})
        _replace(seller=seller, password=new_password, revoke=lost)
    return rewrapped


def dashboard_keys_reset(*, seller: User, new_password: str) -> DashboardKeys:
    """Password reset (the old password is unknown, so the old private halves are lost for good):
    revoke the dashboard keys and make new ones under the new password."""
    if seller.role != Role.SELLER:
        return DashboardKeys(None, None)
    old = list(
        SellerKey.objects.filter(
            seller=seller, origin=KeyOrigin.PLATFORM_HELD, revoked_at__isnull=True
        )
    )
    return _replace(seller=seller, password=new_password, revoke=old)


def _replace(*, seller: User, password: str, revoke: list[SellerKey]) -> DashboardKeys:
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=seller.pk).first()
        now = timezone.now()
        SellerKey.objects.filter(pk__in=[key.pk for key in revoke], revoked_at__isnull=True).update(
            revoked_at=now
        )
        _create_missing(seller, password)
        created = dashboard_keys_of(seller)
        revoked = list(SellerKey.objects.filter(pk__in=[key.pk for key in revoke]))
        # Listeners (payments: re-seal open orders) run in this transaction: all or nothing.
        key_listeners.dashboard_keys_replaced(seller=seller, revoked=revoked, created=created)
    return created
