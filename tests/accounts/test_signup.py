import pytest
from django.urls import reverse

from accounts.models import Role, SellerProfile, User
from tests.accounts.factories import BuyerFactory

pytestmark = pytest.mark.django_db

SIGNUP = reverse("accounts:signup")
GOOD_PASSWORD = "lantern-orbit-velvet-42"


def _post(client, **overrides):
    data = {
        "role": "buyer",
        "email": "new.person@example.com",
        "display_name": "New Person",
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
    }
    data.update(overrides)
    return client.post(SIGNUP, data)


def _seller_fields(**overrides):
    fields = {
        "role": "seller",
        "legal_name": "Acme Handel GmbH",
        "country": "DE",
        "default_currency": "EUR",
        "settlement_currency": "EUR",
    }
    fields.update(overrides)
    return fields


def test_signup_page_renders_every_field_with_a_label_and_csrf(client):
    response = client.get(SIGNUP)
    assert response.status_code == 200
    html = response.content.decode()
    assert "csrfmiddlewaretoken" in html
    for name in ("email", "password1", "password2", "legal_name", "country", "default_currency"):
        assert f'<label for="id_{name}">' in html


def test_buyer_signs_up_and_is_logged_in(client):
    response = _post(client, email="New.Person@Example.com")

    assert response.status_code == 302
    assert response.url == reverse("home")
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert user.role == Role.BUYER
    assert not user.is_staff
    assert user.check_password(GOOD_PASSWORD)
    assert not SellerProfile.objects.exists()
    assert client.get(reverse("accounts:overview")).status_code == 200


def test_seller_signs_up_with_identity_and_is_sent_to_the_profile_page(client):
    response = _post(client, **_seller_fields(settlement_currency="USD"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:seller_profile")
    user = User.objects.get()
    assert user.role == Role.SELLER
    profile = user.seller_profile
    assert (profile.legal_name, profile.country) == ("Acme Handel GmbH", "DE")
    assert (profile.default_currency, profile.settlement_currency) == ("EUR", "USD")
    assert profile.has_payout_account is False
    page = client.get(response.url)
    assert b"Add the bank account your payouts go to" in page.content


def test_seller_signup_with_missing_identity_shows_field_errors_and_creates_nothing(client):
    response = _post(client, **_seller_fields(legal_name="", default_currency="DEM"))

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["legal_name"] == ["Enter the business's legal name, as registered."]
    assert "default_currency" in form.errors
    assert User.objects.count() == 0
    assert SellerProfile.objects.count() == 0


def test_duplicate_email_is_refused_whatever_its_case(client):
    BuyerFactory(email="taken@example.com")

    response = _post(client, email="TAKEN@Example.COM")

    assert response.status_code == 400
    assert response.context["form"].errors["email"] == [
        "An account with this email address already exists."
    ]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "message_part"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("48213975631", "entirely numeric"),
    ],
)
def test_weak_password_is_refused_on_the_password_field(client, password, message_part):
    response = _post(client, password1=password, password2=password)

    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["password1"])
    assert message_part in errors
    assert User.objects.count() == 0


def test_password_similar_to_the_email_is_refused(client):
    response = _post(
        client,
        email="margarethe.blumenfeld@example.com",
        password1="margarethe.blumenfeld",
        password2="margarethe.blumenfeld",
    )
    assert response.status_code == 400
    assert "too similar" in " ".join(response.context["form"].errors["password1"])
    assert User.objects.count() == 0


def test_mismatched_passwords_are_refused(client):
    response = _post(client, password2=GOOD_PASSWORD + "x")
    assert response.status_code == 400
    assert response.context["form"].errors["password2"] == ["The two passwords do not match."]
    assert User.objects.count() == 0


def test_nobody_signs_up_as_staff(client):
    response = _post(client, role="staff")
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    assert User.objects.count() == 0


def test_emails_are_unique_case_insensitively_in_the_database_too():
    from django.db import IntegrityError, transaction

    BuyerFactory(email="one@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="ONE@example.com", role=Role.BUYER).save()  # save() skips clean()
    assert User.objects.count() == 1
