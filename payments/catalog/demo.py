"""Demo catalogue for `manage.py seed_demo` (the accounts side calls seed_demo_products).

Each demo seller lists a few products in its own currency, and every seller also lists two in EUR
so that a demo buyer can put products of several sellers in one cart (one order = one currency).
Idempotent: a product is identified by (seller, title); existing ones are left as they are, so
stock that buyers have used up is not refilled behind their back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from payments.catalog.models import Product

# (title, description, price in minor units of the currency, stock)
_CATALOGUE: dict[str, list[tuple[str, str, int, int]]] = {
    "EUR": [
        ("Linen tea towel", "Stonewashed Belgian linen, 50 x 70 cm.", 1450, 40),
        ("Ceramic mug", "Hand-thrown stoneware, 300 ml, dishwasher safe.", 2200, 25),
        ("Beeswax candle", "Pure beeswax pillar, burns about 40 hours.", 1890, 30),
    ],
    "USD": [
        ("Cast-iron skillet", "10-inch pre-seasoned skillet.", 3499, 15),
        ("Canvas tote", "Heavy 16 oz cotton canvas with inner pocket.", 1800, 50),
        ("Enamel pin set", "Three hard-enamel pins.", 1200, 80),
    ],
    "JPY": [
        ("Tenugui towel", "Hand-dyed cotton, 35 x 90 cm.", 1200, 60),
        ("Matcha whisk", "Bamboo chasen, 100 prongs.", 2800, 20),
        ("Furoshiki cloth", "Printed cotton wrapping cloth, 70 cm.", 1650, 35),
    ],
}
# Listed by every seller in EUR, so carts can span sellers.
_SHARED_EUR: list[tuple[str, str, int, int]] = [
    ("Gift card sleeve", "Recycled paper sleeve with a hand-stamped motif.", 350, 200),
    ("Postcard set", "Eight postcards from the seller's town.", 990, 100),
]


def _seller_currency(seller: Any) -> str:
    profile = getattr(seller, "seller_profile", None)
    currency = getattr(profile, "default_currency", "") or "EUR"
    return currency if currency in _CATALOGUE else "EUR"


@transaction.atomic
def seed_demo_products(sellers: Iterable[Any]) -> list[Product]:
    """Create the demo products of each seller that do not exist yet; return all of them."""
    products: list[Product] = []
    for seller in sellers:
        currency = _seller_currency(seller)
        wanted = [(item, currency) for item in _CATALOGUE[currency]]
        wanted += [(item, "EUR") for item in _SHARED_EUR]
        for (title, description, price_minor, stock), item_currency in wanted:
            product, _created = Product.objects.get_or_create(
                seller=seller,
                title=title,
                defaults={
                    "description": description,
                    "price_minor": price_minor,
                    "currency": item_currency,
                    "stock": stock,
                },
            )
            products.append(product)
    return products
