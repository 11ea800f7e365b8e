"""Staff two-factor sign-in: the admin is only for staff with a verified second factor; staff
enrol a TOTP authenticator by QR code and get backup codes; seed_demo enrols the demo staff user
and prints the secret."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role, User
from tests.accounts.factories import PASSWORD, SellerFactory, StaffFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/"
LOGIN = "/admin/login/"


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key):06d}"


def test_staff_signed_in_without_a_second_factor_do_not_get_the_admin():
    staff = StaffFactory()
    client = Client()
    client.force_login(staff)
    page = client.get(ADMIN)
    assert page.status_code == 302 and page["Location"].startswith(LOGIN)
    # And its pages stay closed: nothing can be changed from there.
    assert client.get(reverse("admin:settlement_workitem_changelist")).status_code == 302


def test_the_admin_login_needs_the_password_and_a_current_code():
    staff = StaffFactory()
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    wrong = client.post(
        LOGIN, {"username": staff.email, "password": PASSWORD, "otp_token": "000000"}
    )
    assert wrong.status_code == 200 and b"errornote" in wrong.content
    assert client.get(ADMIN).status_code == 302
    missing = client.post(LOGIN, {"username": staff.email, "password": PASSWORD})
    assert missing.status_code == 200 and client.get(ADMIN).status_code == 302
    # A wrong code throttles the device (a second of wait, doubling); that wait is over.
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    device.throttle_reset()
    signed_in = client.post(
        LOGIN,
        {"username": staff.email, "password": PASSWORD, "otp_token": code_for(device)},
    )
    assert signed_in.status_code == 302
    assert client.get(ADMIN).status_code == 200


def test_staff_enrol_by_qr_code_and_get_backup_codes_that_work_once():
    staff = StaffFactory()
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("accounts:two_factor"))
    assert page.status_code == 200 and b"<svg" in page.content
    secret = re.search(rb'id="totp-secret">([A-Z2-7]+)<', page.content).group(1).decode()
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert device.config_url.count(secret) == 1
    wrong = client.post(reverse("accounts:two_factor"), {"token": "123"})
    assert b"That code is not right" in wrong.content
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    done = client.post(reverse("accounts:two_factor"), {"token": code_for(device)})
    assert b"backup-codes" in done.content
    codes = re.findall(rb"<li><code>([a-z0-9]+)</code></li>", done.content)
    assert len(codes) == 10 and StaticToken.objects.filter(device__user=staff).count() == 10
    assert client.get(ADMIN).status_code == 200  # the session is verified

    backup = codes[0].decode()
    again = Client()
    login = {"username": staff.email, "password": PASSWORD, "otp_token": backup}
    assert again.post(LOGIN, login).status_code == 302 and again.get(ADMIN).status_code == 200
    third = Client()
    assert third.post(LOGIN, login).status_code == 200  # used up
    assert third.get(ADMIN).status_code == 302


def test_enrolment_is_for_staff_and_happens_once():
    seller = SellerFactory()
    client = Client()
    client.force_login(seller)
    assert client.get(reverse("accounts:two_factor")).status_code == 403
    assert not TOTPDevice.objects.exists()
    staff = StaffFactory()
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)
    page = client.get(reverse("accounts:two_factor"))
    assert b"already" in page.content or b"is enrolled" in page.content
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_seed_demo_enrols_the_demo_staff_user_and_prints_the_secret():
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    staff = User.objects.get(role=Role.STAFF)
    device = TOTPDevice.objects.get(user=staff, confirmed=True)
    secret = re.search(r"TOTP secret ([A-Z2-7]+)", out.getvalue()).group(1)
    assert secret in device.config_url
    client = Client()
    login = {"username": staff.email, "password": "demo-staff-pass", "otp_token": code_for(device)}
    assert client.post(LOGIN, login).status_code == 302 and client.get(ADMIN).status_code == 200
    again = StringIO()
    call_command("seed_demo", force=True, stdout=again)
    assert again.getvalue() == out.getvalue() and TOTPDevice.objects.count() == 1
