"""Factories for storefront tests (kept here so other areas' factories never collide)."""

from __future__ import annotations

import factory

from accounts.models import Role, SellerProfile, User
from payments.models import Product


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    role = Role.BUYER
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.django.Password("correct-horse-battery")


class BuyerFactory(UserFactory):
    email = factory.Sequence(lambda n: f"buyer{n}@example.test")
    role = Role.BUYER


class SellerFactory(UserFactory):
    email = factory.Sequence(lambda n: f"seller{n}@example.test")
    role = Role.SELLER


class StaffFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.test")
    role = Role.STAFF
    is_staff = True


class SellerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SellerProfile

    user = factory.SubFactory(SellerFactory)
    legal_name = factory.Sequence(lambda n: f"Seller {n} GmbH")
    country = "DE"
    default_currency = "EUR"
    settlement_currency = "EUR"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    seller = factory.SubFactory(SellerFactory)
    title = factory.Sequence(lambda n: f"Product {n}")
    description = "A fine thing."
    price_minor = 1000
    currency = "EUR"
    stock = 10
