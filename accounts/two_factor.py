"""Staff two-factor authentication (django-otp): a TOTP authenticator enrolled with a QR code, and
ten single-use backup codes (django-otp's static device). The admin site requires a verified
second factor (accounts.admin_site.StaffAdminSite).

    enrolment_device(user)        the user's unconfirmed TOTP device (made on first call)
    confirm_enrolment(user, token) -> backup codes    the device confirmed by a first code
    ensure_demo_device(user)      seed_demo's confirmed device, the same secret on every run
"""

from __future__ import annotations

import base64

import segno
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import PermissionDenied, ValidationError

BACKUP_CODES = 10
AUTHENTICATOR_NAME = "authenticator"
BACKUP_NAME = "backup codes"


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrolment_device(user) -> TOTPDevice:
    """The TOTP device being enrolled (unconfirmed), made once; a confirmed one is not replaced
    here (a second enrolment would let whoever holds a session swap the staff member's factor)."""
    if not user.is_staff:
        raise PermissionDenied("Two-factor sign-in is for staff.", code="staff_only")
    if has_second_factor(user):
        raise ValidationError("An authenticator is already enrolled.", code="already_enrolled")
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, confirmed=False, defaults={"name": AUTHENTICATOR_NAME}
    )
    return device


def secret_of(device: TOTPDevice) -> str:
    """The base32 secret an authenticator app takes when typed in."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code (segno: no image library needed)."""
    return segno.make(device.config_url, micro=False).svg_inline(scale=4)


def confirm_enrolment(user, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the device with a first code from the app; make the backup codes (shown once)."""
    token = (token or "").replace(" ", "")
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise ValidationError("Start the enrolment first.", field="token")
        if not token.isdigit() or not device.verify_token(token):
            raise ValidationError(
                "That code is not right: check the app's clock and try the current code.",
                code="invalid_token",
                field="token",
            )
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = new_backup_codes(user)
    return device, codes


def new_backup_codes(user) -> list[str]:
    """Replace the user's backup codes with ten new single-use ones."""
    static, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_NAME, defaults={"confirmed": True}
    )
    static.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


def ensure_demo_device(user) -> TOTPDevice:
    """The demo staff user's confirmed authenticator (made once, kept: the printed secret stays
    the same on every seed_demo run). Demo only: its secret is printed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True, name="demo").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
    return device
