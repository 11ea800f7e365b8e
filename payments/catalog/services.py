"""Sellers' products: create, edit, adjust stock. Prices arrive as the decimal text the seller typed
and become integer minor units through core.money (never float)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F

from core.errors import NotFound, ValidationError
from core.money import Money, NoMinorUnit, currency_exponent
from payments.catalog.models import Product

MAX_PRICE_MINOR = 10**10
MAX_STOCK = 1_000_000
MAX_IMAGE_BYTES = 2 * 1024 * 1024
# Raster formats only, recognised by their first bytes (SVG can carry script: refused).
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"GIF87a": ".gif",
    b"GIF89a": ".gif",
}


def parse_price(*, text: Any, currency: str) -> int:
    """ "12.50" EUR -> 1250; refuses negatives, zero, too many decimals, junk, absurd sizes."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Enter a price, e.g. 12.50.", field="price")
    if len(text) > 32:
        raise ValidationError("Enter a sensible price.", field="price")
    text = text.strip()
    decimals = len(text.partition(".")[2])
    exponent = currency_exponent(currency)
    if text.count(".") == 1 and decimals > exponent:
        raise ValidationError(
            f"{currency} prices have no decimals."
            if exponent == 0
            else f"{currency} prices have at most {exponent} decimals.",
            field="price",
        )
    try:
        money = Money.parse(text, currency)
    except (TypeError, ValueError):
        raise ValidationError(
            "Enter a price like 12.50 (digits and a point).", field="price"
        ) from None
    if money.amount_minor <= 0:
        raise ValidationError("The price must be more than zero.", field="price")
    if money.amount_minor > MAX_PRICE_MINOR:
        raise ValidationError("That price is too large.", field="price")
    return money.amount_minor


def check_price_minor(value: Any) -> int:
    """The API's price: a whole number of minor units (the pages take decimal text instead)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("Give the price in minor units, e.g. 1250.", field="price_minor")
    if not 0 < value <= MAX_PRICE_MINOR:
        raise ValidationError(
            f"The price is from 1 to {MAX_PRICE_MINOR} minor units.", field="price_minor"
        )
    return value


def _price(*, price_text: Any, price_minor: Any, currency: str) -> int:
    if price_minor is not None:
        return check_price_minor(price_minor)
    return parse_price(text=price_text, currency=currency)


def parse_currency(code: Any) -> str:
    """ "eur" -> "EUR"; refuses anything that is not a known ISO 4217 code (the product form
    and the checkout-session API share this)."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise ValidationError("Use a three-letter ISO 4217 code, e.g. EUR.", field="currency")
    code = code.upper()
    try:
        currency_exponent(code)
    except NoMinorUnit:
        raise ValidationError(
            f"{code} is not a currency payments can be made in (it has no minor unit).",
            field="currency",
        ) from None
    except ValueError:
        raise ValidationError(f"Unknown currency {code}.", field="currency") from None
    return code


def validate_image(upload: UploadedFile | None) -> UploadedFile | None:
    """PNG, JPEG, GIF or WebP up to 2 MB, stored under a random name (never the uploader's)."""
    if not upload:
        return None
    if upload.size > MAX_IMAGE_BYTES:
        raise ValidationError("The image is larger than 2 MB.", field="image")
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    extension = next((ext for sig, ext in _IMAGE_SIGNATURES.items() if head.startswith(sig)), None)
    if extension is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        extension = ".webp"
    if extension is None:
        raise ValidationError("Upload a PNG, JPEG, GIF or WebP image.", field="image")
    upload.name = f"{uuid.uuid4().hex}{extension}"
    return upload


def _check_stock(stock: Any) -> int:
    if isinstance(stock, bool) or not isinstance(stock, int):
        raise ValidationError("Enter a whole number.", field="stock")
    if not 0 <= stock <= MAX_STOCK:
        raise ValidationError(f"Stock is between 0 and {MAX_STOCK}.", field="stock")
    return stock


def _check_text(title: Any, description: Any) -> tuple[str, str]:
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("Give the product a title.", field="title")
    title = " ".join(title.split())
    if len(title) > 200:
        raise ValidationError("At most 200 characters.", field="title")
    description = (description or "").strip() if isinstance(description, str) else ""
    if len(description) > 5000:
        raise ValidationError("At most 5000 characters.", field="description")
    return title, description


@transaction.atomic
def product_create(
    *,
    seller: Any,
    title: Any,
    description: Any,
    price_text: Any = None,
    currency: Any,
    stock: Any,
    image: UploadedFile | None = None,
    price_minor: Any = None,
) -> Product:
    """A new listing; the price as the decimal text a seller typed, or (API) `price_minor`."""
    if not getattr(seller, "is_seller", False):
        raise ValidationError("Only sellers list products.", code="not_a_seller")
    title, description = _check_text(title, description)
    currency = parse_currency(currency)
    price_minor = _price(price_text=price_text, price_minor=price_minor, currency=currency)
    stock = _check_stock(stock)
    image = validate_image(image)
    product = Product(
        seller=seller,
        title=title,
        description=description,
        price_minor=price_minor,
        currency=currency,
        stock=stock,
    )
    if image:
        product.image = image
    product.save()
    return product


def product_get_for_seller(*, seller: Any, product_id: Any) -> Product:
    product = Product.objects.filter(pk=product_id, seller=seller).first()
    if product is None:
        raise NotFound("No such product.")
    return product


@transaction.atomic
def product_update(
    *,
    seller: Any,
    product_id: Any,
    title: Any,
    description: Any,
    price_text: Any = None,
    currency: Any,
    is_active: bool,
    image: UploadedFile | None = None,
    remove_image: bool = False,
    price_minor: Any = None,
) -> Product:
    """Edit the listing. Stock is not written here (see product_adjust_stock): saving only the
    listing's fields means a reservation running at the same moment keeps its units, without
    holding the product's row lock while the input is checked and the image stored."""
    product = product_get_for_seller(seller=seller, product_id=product_id)
    title, description = _check_text(title, description)
    currency = parse_currency(currency)
    product.title, product.description = title, description
    product.currency = currency
    product.price_minor = _price(price_text=price_text, price_minor=price_minor, currency=currency)
    product.is_active = bool(is_active)
    image = validate_image(image)
    if image:
        product.image = image
    elif remove_image:
        product.image = ""
    product.save(
        update_fields=[
            "title",
            "description",
            "currency",
            "price_minor",
            "is_active",
            "image",
            "updated_at",
        ]
    )
    return product


def product_adjust_stock(*, seller: Any, product_id: Any, change: Any) -> Product:
    """Add (or, negative, remove) units in one conditional UPDATE: concurrent reservations keep
    their units and stock never goes below zero."""
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise ValidationError(
            "Enter how many units to add (or remove, with a minus).", field="change"
        )
    if abs(change) > MAX_STOCK:
        raise ValidationError(f"At most {MAX_STOCK} units at once.", field="change")
    product = product_get_for_seller(seller=seller, product_id=product_id)
    updated = Product.objects.filter(
        pk=product.pk, seller=seller, stock__gte=max(0, -change), stock__lte=MAX_STOCK - change
    ).update(stock=F("stock") + change)
    product.refresh_from_db()
    if updated != 1:
        raise ValidationError(
            f"Stock is {product.stock}: it cannot go below 0 or above {MAX_STOCK}.",
            field="change",
        )
    return product
