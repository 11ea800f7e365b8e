from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.demo import demo_private_key_pem
from accounts.models import DemoKeyMaterial, Role, SellerKey, SellerProfile, User
from core import crypto
from demo.management.commands.seed_demo import DEMO_USERS

pytestmark = pytest.mark.django_db


def _state() -> dict:
    """Every row the seed writes, field by field."""

    def rows(model):
        return sorted(
            tuple(str(getattr(obj, f.attname)) for f in model._meta.concrete_fields)
            for obj in model.objects.all()
        )

    return {
        model.__name__: rows(model) for model in (User, SellerProfile, SellerKey, DemoKeyMaterial)
    }


def _seed() -> str:
    out = StringIO()
    # Without the sandbox bank: the payout history is tested with the bank process
    # (tests/settlement/test_seed_demo_history.py).
    call_command("seed_demo", force=True, without_bank=True, stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent_and_every_demo_login_works():
    first_output = _seed()
    first_state = _state()

    second_output = _seed()

    assert second_output == first_output
    assert _state() == first_state
    assert User.objects.count() == 6
    assert User.objects.filter(role=Role.STAFF, is_staff=True).count() == 1
    assert User.objects.filter(role=Role.SELLER).count() == 3
    assert User.objects.filter(role=Role.BUYER).count() == 2
    for demo in DEMO_USERS:
        assert demo.email in first_output and demo.password in first_output
        client = Client()
        response = client.post(
            reverse("accounts:login"), {"username": demo.email, "password": demo.password}
        )
        assert response.status_code == 302, demo.email
        assert int(client.session["_auth_user_id"]) == User.objects.get(email=demo.email).pk

    profiles = {p.country: p for p in SellerProfile.objects.all()}
    assert (profiles["DE"].settlement_currency, profiles["DE"].iban, profiles["DE"].bic) == (
        "EUR",
        "DE89370400440532013000",
        "COBADEFFXXX",
    )
    assert (profiles["US"].settlement_currency, profiles["US"].routing_number) == (
        "USD",
        "021000021",
    )
    assert (profiles["JP"].settlement_currency, profiles["JP"].routing_number) == ("JPY", "0001001")
    assert profiles["JP"].minimum_payout_minor == 3000
    assert all(profile.has_payout_account for profile in profiles.values())

    # Each seller: one active signing and one encryption key whose demo private half works.
    for profile in profiles.values():
        active = SellerKey.objects.filter(seller=profile.user, revoked_at__isnull=True)
        # Besides the demo keys: the dashboard keys, locked by the demo password.
        dashboard = active.filter(origin="platform_held")
        assert sorted(dashboard.values_list("purpose", flat=True)) == ["encryption", "signing"]
        keys = active.exclude(origin="platform_held")
        assert sorted(keys.values_list("purpose", flat=True)) == ["encryption", "signing"]
        signing = keys.get(purpose="signing")
        signature = crypto.sign(demo_private_key_pem(signing), b"demo", algorithm=signing.algorithm)
        crypto.verify(signing.public_pem, b"demo", signature, algorithm=signing.algorithm)
        encryption = keys.get(purpose="encryption")
        sealed = crypto.seal(encryption.public_pem, b"demo")
        assert crypto.open_sealed(demo_private_key_pem(encryption), sealed) == b"demo"
        assert str(signing.id) in first_output and str(encryption.id) in first_output


def test_demo_private_keys_are_stored_encrypted():
    _seed()
    for material in DemoKeyMaterial.objects.all():
        assert b"PRIVATE KEY" not in bytes(material.private_pem_encrypted)


def test_seed_demo_refuses_to_run_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="public passwords"):
        call_command("seed_demo", stdout=StringIO())
    assert User.objects.count() == 0
