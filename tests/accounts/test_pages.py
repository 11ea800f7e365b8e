"""Base template, navigation per role, and the admin pages."""

import pytest
from django.urls import reverse

from core.admin_base import mask_iban
from tests.accounts.factories import make_api_key, make_seller_key
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db


def test_anonymous_home_links_to_login_and_signup(client):
    html = client.get("/").content.decode()
    assert reverse("accounts:login") in html
    assert reverse("accounts:signup") in html
    assert 'name="viewport"' in html
    assert "/static/css/app.css" in html
    assert "http://" not in html.replace("http://testserver", "")
    assert "https://" not in html


def test_buyer_nav(buyer_client):
    html = buyer_client.get("/").content.decode()
    assert reverse("accounts:api_keys") in html
    assert reverse("accounts:seller_keys") not in html
    assert reverse("admin:index") not in html
    assert 'action="/accounts/logout/"' in html


def test_seller_nav(seller_client):
    html = seller_client.get("/").content.decode()
    for name in (
        "dashboard:orders",
        "payments:seller_products",
        "payments:seller_webhooks",
        "accounts:seller_keys",
        "accounts:api_keys",
        "accounts:seller_profile",
    ):
        assert reverse(name) in html
    # One seller navigation: the money pages and the developer pages in it.
    nav = html.split('aria-label="Main"')[1].split("</nav>")[0]
    for name in ("dashboard:overview", "dashboard:settlements", "dashboard:developers"):
        assert f'href="{reverse(name)}"' in nav
    assert reverse("admin:index") not in html


def test_staff_nav_links_admin(client, staff):
    client.force_login(staff)
    html = client.get("/").content.decode()
    assert reverse("admin:index") in html


def test_messages_are_shown(seller_client, seller):
    key, _ = make_seller_key(seller)
    response = seller_client.post(reverse("accounts:seller_key_revoke", args=[key.id]), follow=True)
    assert f"Key {key.id} is revoked." in response.content.decode()


def test_overview_page(seller_client, seller):
    html = seller_client.get(reverse("accounts:overview")).content.decode()
    assert seller.email in html
    assert seller.seller_profile.legal_name in html


def test_admin_pages_render_and_never_show_the_api_key_hash(client, staff, seller):
    verify_second_factor(client, staff)
    key, _ = make_seller_key(seller)
    api_key, _full = make_api_key(seller)
    pages = [
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_add"),
        reverse("admin:accounts_user_change", args=[seller.pk]),
        reverse("admin:accounts_sellerprofile_changelist"),
        reverse("admin:accounts_sellerprofile_change", args=[seller.seller_profile.pk]),
        reverse("admin:accounts_sellerkey_changelist"),
        reverse("admin:accounts_sellerkey_change", args=[key.pk]),
        reverse("admin:accounts_apikey_changelist"),
        reverse("admin:accounts_apikey_change", args=[api_key.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert api_key.secret_hash not in response.content.decode(), url


def test_admin_creates_a_user_by_email(client, staff):
    from accounts.models import User

    verify_second_factor(client, staff)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "Admin.Made@Example.com",
            "role": "buyer",
            "usable_password": "true",
            "password1": "a-fine-long-passphrase",
            "password2": "a-fine-long-passphrase",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.filter(email="admin.made@example.com").exists()
    duplicate = client.post(
        reverse("admin:accounts_user_add"),
        {"email": "ADMIN.MADE@example.com", "role": "buyer", "usable_password": "false"},
    )
    assert duplicate.status_code == 200
    assert User.objects.filter(email__iexact="admin.made@example.com").count() == 1


def test_admin_profile_save_runs_the_bank_checks(client, staff, seller):
    verify_second_factor(client, staff)
    profile = seller.seller_profile
    url = reverse("admin:accounts_sellerprofile_change", args=[profile.pk])
    data = {
        "user": seller.pk,
        "legal_name": profile.legal_name,
        "country": "DE",
        "default_currency": "EUR",
        "settlement_currency": "EUR",
        "bank_account_holder": "X",
        "iban": "DE89370400440532013001",
        "bic": "COBADEFFXXX",
        "account_number": "",
        "routing_number": "",
        "settlement_schedule": "daily",
        "minimum_payout_minor": "0",
        "fee_plan": "standard",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "iban" in response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.iban == "DE89370400440532013000"


def _profile_post(profile, **changes) -> dict:
    data = {
        "user": profile.user_id,
        "legal_name": profile.legal_name,
        "country": profile.country,
        "default_currency": profile.default_currency,
        "settlement_currency": profile.settlement_currency,
        "bank_account_holder": profile.bank_account_holder,
        "iban": "",
        "bic": profile.bic,
        "account_number": "",
        "routing_number": profile.routing_number,
        "settlement_schedule": profile.settlement_schedule,
        "payout_weekday": profile.payout_weekday,
        "payout_monthday": profile.payout_monthday,
        "minimum_payout_minor": profile.minimum_payout_minor,
        "fee_plan": profile.fee_plan,
    }
    return {**data, **changes}


def test_admin_never_shows_the_account_number_in_full_and_keeps_it_unless_replaced(
    client, staff, seller
):
    verify_second_factor(client, staff)
    profile = seller.seller_profile
    on_file = profile.iban
    assert on_file
    url = reverse("admin:accounts_sellerprofile_change", args=[profile.pk])
    page = client.get(url).content.decode()
    assert on_file not in page and mask_iban(on_file) in page

    # Another field changed, the number left empty: the number on file stays.
    kept = client.post(url, _profile_post(profile, legal_name="Renamed GmbH"))
    assert kept.status_code == 302, kept.context["adminform"].form.errors
    profile.refresh_from_db()
    assert (profile.legal_name, profile.iban) == ("Renamed GmbH", on_file)

    # A number typed replaces it (and is checked as the seller's own form checks it).
    replaced = client.post(
        url, _profile_post(profile, iban="DE02 1203 0000 0000 2020 51", bic="BYLADEM1001")
    )
    assert replaced.status_code == 302, replaced.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.iban == "DE02120300000000202051"

    # "Remove" clears it.
    removed = client.post(url, _profile_post(profile, remove_iban="on", bic=""))
    assert removed.status_code == 302, removed.context["adminform"].form.errors
    profile.refresh_from_db()
    assert (profile.iban, profile.has_payout_account) == ("", False)
