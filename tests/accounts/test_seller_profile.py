import pytest
from django.urls import reverse

from accounts.models import SellerProfile
from tests.accounts.factories import BuyerFactory, SellerFactory

pytestmark = pytest.mark.django_db

PROFILE = reverse("accounts:seller_profile")
API_ME = "/api/v1/seller-profiles/me/"


def _form(**overrides):
    data = {
        "legal_name": "Rheinland Handel GmbH",
        "country": "DE",
        "default_currency": "EUR",
        "settlement_currency": "EUR",
        "bank_account_holder": "",
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "account_number": "",
        "routing_number": "",
        "settlement_schedule": "weekly",
        "minimum_payout": "25.50",
    }
    data.update(overrides)
    return data


def _snapshot(profile: SellerProfile) -> dict:
    profile.refresh_from_db()
    return {
        field.name: getattr(profile, field.name) for field in SellerProfile._meta.concrete_fields
    }


def test_profile_page_renders_for_the_seller(seller_client, seller):
    response = seller_client.get(PROFILE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="DE89370400440532013000"' in html
    for name in ("iban", "bic", "account_number", "routing_number", "minimum_payout"):
        assert f'<label for="id_{name}">' in html


def test_profile_page_is_for_sellers_only(buyer_client):
    response = buyer_client.get(PROFILE)
    assert response.status_code == 403
    assert b"This page is for sellers" in response.content


def test_anonymous_is_sent_to_login(client):
    response = client.get(PROFILE)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_valid_iban_and_bic_are_saved_normalised(seller_client, seller):
    response = seller_client.post(PROFILE, _form())

    assert response.status_code == 302
    profile = SellerProfile.objects.get(user=seller)
    assert profile.iban == "DE89370400440532013000"
    assert profile.bic == "COBADEFFXXX"
    assert profile.bank_account_holder == "Rheinland Handel GmbH"
    assert profile.settlement_schedule == "weekly"
    assert profile.minimum_payout_minor == 2550
    assert (profile.account_number, profile.routing_number) == ("", "")


def test_invalid_iban_is_a_field_error_and_nothing_changes(seller_client, seller):
    before = _snapshot(seller.seller_profile)

    response = seller_client.post(
        PROFILE, _form(iban="DE89370400440532013001", legal_name="Changed")
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["iban"] == ["This IBAN's check digits are wrong: check for a typo."]
    html = response.content.decode()
    assert 'id="id_iban_error"' in html
    assert _snapshot(seller.seller_profile) == before


def test_malformed_bic_is_a_field_error(seller_client, seller):
    before = _snapshot(seller.seller_profile)
    response = seller_client.post(PROFILE, _form(bic="COBA1EFF"))
    assert response.status_code == 400
    assert "not a valid BIC" in response.context["form"].errors["bic"][0]
    assert _snapshot(seller.seller_profile) == before


def test_us_seller_with_invalid_routing_number_gets_a_field_error(client):
    seller = SellerFactory(
        profile__country="US",
        profile__iban="",
        profile__bic="",
        profile__account_number="000123456789",
        profile__routing_number="021000021",
        profile__default_currency="USD",
        profile__settlement_currency="USD",
    )
    client.force_login(seller)
    before = _snapshot(seller.seller_profile)
    data = _form(
        country="US",
        default_currency="USD",
        settlement_currency="USD",
        iban="",
        bic="",
        account_number="000987654321",
        routing_number="021000022",
    )

    response = client.post(PROFILE, data)

    assert response.status_code == 400
    assert response.context["form"].errors["routing_number"] == [
        "This is not a valid ABA routing number: its check digit does not match. Check for a typo."
    ]
    assert _snapshot(seller.seller_profile) == before

    ok = client.post(PROFILE, {**data, "routing_number": "026009593"})
    assert ok.status_code == 302
    seller.seller_profile.refresh_from_db()
    assert seller.seller_profile.routing_number == "026009593"
    assert seller.seller_profile.account_number == "000987654321"


def test_japanese_seller_minimum_payout_in_whole_yen(seller_client, seller):
    data = _form(
        country="JP",
        default_currency="JPY",
        settlement_currency="JPY",
        iban="",
        bic="",
        account_number="1234567",
        routing_number="0001-001",
        minimum_payout="3000",
    )
    assert seller_client.post(PROFILE, data).status_code == 302
    profile = SellerProfile.objects.get(user=seller)
    assert (profile.minimum_payout_minor, profile.routing_number) == (3000, "0001001")

    response = seller_client.post(PROFILE, {**data, "minimum_payout": "3000.5"})
    assert response.status_code == 400
    assert response.context["form"].errors["minimum_payout"] == [
        "JPY has no decimal places: enter a whole amount."
    ]
    profile.refresh_from_db()
    assert profile.minimum_payout_minor == 3000


@pytest.mark.parametrize(
    ("amount", "message_part"),
    [
        ("25.505", "2 decimal places at most"),
        ("-5", "plain amount"),
        ("1e3", "plain amount"),
        ("1,000.00", "plain amount"),
        ("٣٠", "plain amount"),
    ],
)
def test_minimum_payout_is_a_plain_decimal(seller_client, seller, amount, message_part):
    before = _snapshot(seller.seller_profile)
    response = seller_client.post(PROFILE, _form(minimum_payout=amount))
    assert response.status_code == 400
    assert message_part in response.context["form"].errors["minimum_payout"][0]
    assert _snapshot(seller.seller_profile) == before


def test_unknown_or_historic_currency_is_refused(seller_client, seller):
    before = _snapshot(seller.seller_profile)
    response = seller_client.post(PROFILE, _form(default_currency="DEM", settlement_currency="XYZ"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"default_currency", "settlement_currency"}
    assert _snapshot(seller.seller_profile) == before


def test_profile_page_requires_a_bank_account(seller_client, seller):
    response = seller_client.post(PROFILE, _form(iban="", bic=""))
    assert response.status_code == 400
    assert response.context["form"].errors["iban"] == [
        "Enter the IBAN of the account your payouts go to."
    ]


def test_admin_path_runs_the_same_validation(seller):
    from django.core.exceptions import ValidationError

    profile = seller.seller_profile
    profile.iban = "DE00370400440532013000"
    with pytest.raises(ValidationError) as caught:
        profile.full_clean()
    assert "iban" in caught.value.message_dict


# --- API ---------------------------------------------------------------------------------------


def test_api_reads_own_profile(api_client, seller):
    api_client.force_authenticate(seller)
    response = api_client.get(API_ME)
    assert response.status_code == 200
    body = response.json()
    assert body["iban"] == "DE89370400440532013000"
    assert body["minimum_payout"] == "0.00"
    assert body["has_payout_account"] is True


def test_api_update_normalises_codes(api_client, seller):
    api_client.force_authenticate(seller)
    response = api_client.patch(
        API_ME, {"settlement_currency": "usd", "minimum_payout": "10"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["settlement_currency"] == "USD"
    assert response.json()["minimum_payout_minor"] == 1000


def test_api_invalid_iban_is_400_on_the_field_and_changes_nothing(api_client, seller):
    api_client.force_authenticate(seller)
    before = _snapshot(seller.seller_profile)
    response = api_client.patch(
        API_ME, {"iban": "DE89370400440532013001", "legal_name": "Other"}, format="json"
    )
    assert response.status_code == 400
    assert "iban" in str(response.json())
    assert _snapshot(seller.seller_profile) == before


def test_api_refuses_a_float_amount(api_client, seller):
    api_client.force_authenticate(seller)
    before = _snapshot(seller.seller_profile)
    response = api_client.patch(API_ME, {"minimum_payout": 25.5}, format="json")
    assert response.status_code == 400
    assert "minimum_payout" in str(response.json())
    assert _snapshot(seller.seller_profile) == before


def test_api_currency_change_asks_for_the_minimum_again(api_client, seller):
    profile = seller.seller_profile
    profile.minimum_payout_minor = 2500
    profile.save()
    api_client.force_authenticate(seller)
    response = api_client.patch(API_ME, {"settlement_currency": "JPY"}, format="json")
    assert response.status_code == 400
    assert "minimum_payout" in str(response.json())
    profile.refresh_from_db()
    assert (profile.settlement_currency, profile.minimum_payout_minor) == ("EUR", 2500)


def test_api_refuses_read_only_fields(api_client, seller):
    api_client.force_authenticate(seller)
    response = api_client.patch(API_ME, {"fee_plan": "free"}, format="json")
    assert response.status_code == 400
    seller.seller_profile.refresh_from_db()
    assert seller.seller_profile.fee_plan == "standard"


def test_api_another_sellers_profile_is_404(api_client, seller, other_seller):
    api_client.force_authenticate(seller)
    other_id = other_seller.seller_profile.pk
    assert api_client.get(f"/api/v1/seller-profiles/{other_id}/").status_code == 404
    response = api_client.patch(
        f"/api/v1/seller-profiles/{other_id}/", {"legal_name": "Mine now"}, format="json"
    )
    assert response.status_code == 404
    other_seller.seller_profile.refresh_from_db()
    assert other_seller.seller_profile.legal_name != "Mine now"
    listed = api_client.get("/api/v1/seller-profiles/").json()["results"]
    assert [row["id"] for row in listed] == [seller.seller_profile.pk]


def test_api_staff_reads_all_profiles_but_does_not_edit_them(
    api_client, staff, seller, other_seller
):
    api_client.force_authenticate(staff)
    listed = api_client.get("/api/v1/seller-profiles/").json()["results"]
    assert {row["id"] for row in listed} == {
        seller.seller_profile.pk,
        other_seller.seller_profile.pk,
    }
    response = api_client.patch(
        f"/api/v1/seller-profiles/{seller.seller_profile.pk}/", {"legal_name": "X"}, format="json"
    )
    assert response.status_code == 403


def test_api_buyer_has_no_profile(api_client):
    buyer = BuyerFactory()
    api_client.force_authenticate(buyer)
    assert api_client.get(API_ME).status_code == 404
    assert api_client.patch(API_ME, {"legal_name": "X"}, format="json").status_code == 403
    assert not SellerProfile.objects.exists()
