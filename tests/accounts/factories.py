"""Factories for accounts tests. Passwords are PASSWORD unless given."""

from __future__ import annotations

import factory

from accounts import services
from accounts.models import ApiKey, Role, SellerKey, SellerProfile, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    role = Role.BUYER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class BuyerFactory(UserFactory):
    email = factory.Sequence(lambda n: f"buyer{n}@example.com")


class StaffFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    role = Role.STAFF
    is_staff = True
    is_superuser = True


class SellerFactory(UserFactory):
    email = factory.Sequence(lambda n: f"seller{n}@example.com")
    role = Role.SELLER
    profile = factory.RelatedFactory(
        "tests.accounts.factories.SellerProfileFactory", factory_related_name="user"
    )


class SellerProfileFactory(factory.django.DjangoModelFactory):
    """A German EUR seller with a valid IBAN + BIC."""

    class Meta:
        model = SellerProfile

    user = factory.SubFactory(UserFactory, role=Role.SELLER)
    legal_name = factory.Sequence(lambda n: f"Seller {n} GmbH")
    country = "DE"
    default_currency = "EUR"
    settlement_currency = "EUR"
    bank_account_holder = factory.SelfAttribute("legal_name")
    iban = "DE89370400440532013000"
    bic = "COBADEFFXXX"
    minimum_payout_minor = 0


def make_seller_key(
    seller: User, purpose: str = "signing", algorithm: str = "ed25519"
) -> tuple[SellerKey, str]:
    """(registered key, private PEM) through the service, as the seller would get them."""
    return services.seller_key_generate(seller=seller, purpose=purpose, algorithm=algorithm)


def make_api_key(owner: User, name: str = "test key") -> tuple[ApiKey, str]:
    """(row, whole key) through the service, as the owner would get them."""
    return services.api_key_create(owner=owner, name=name)
