"""The checks on what a shop sends to create a Checkout Session (line items, URLs, metadata,
expiry) and on the buyer's email on the hosted page. Each refusal is a ValidationError naming the
field at fault; nothing is written before these pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone

from core.errors import ValidationError
from payments.catalog.models import Product
from payments.orders.errors import CurrencyMismatch, OutOfStock, UnknownProduct
from payments.orders.input import (
    MAX_ORDER_TOTAL_MINOR,
    AdHocLine,
    parse_positive_amount_minor,
    parse_product_id,
    parse_quantity,
)
from payments.orders.models import MAX_LINES

DEFAULT_SESSION_LIFETIME = timedelta(hours=24)

MIN_SESSION_LIFETIME = timedelta(minutes=30)

MAX_SESSION_LIFETIME = timedelta(hours=24)

MAX_METADATA_KEYS = 20

MAX_METADATA_KEY_LENGTH = 40

MAX_METADATA_VALUE_LENGTH = 500

MAX_URL_LENGTH = 2000

MAX_NAME_LENGTH = 200
_url_validator = URLValidator(schemes=["http", "https"])


def validate_url(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("Give an http or https URL.", field=field)
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(f"At most {MAX_URL_LENGTH} characters.", field=field)
    try:
        _url_validator(value)
    except DjangoValidationError:
        raise ValidationError("Give an http or https URL.", field=field) from None
    return value


def validate_metadata(metadata: Any) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError("Metadata is an object of string keys and values.", field="metadata")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError(f"At most {MAX_METADATA_KEYS} metadata keys.", field="metadata")
    cleaned = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_METADATA_KEY_LENGTH:
            raise ValidationError(
                f"Metadata keys are 1 to {MAX_METADATA_KEY_LENGTH} characters.", field="metadata"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_LENGTH:
            raise ValidationError(
                f"Metadata values are strings of at most {MAX_METADATA_VALUE_LENGTH} characters.",
                field="metadata",
            )
        cleaned[key] = value
    return cleaned


def validate_expires_at(expires_at: Any, now: datetime) -> datetime:
    if expires_at is None:
        return now + DEFAULT_SESSION_LIFETIME
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        raise ValidationError("Give a date-time with a time zone.", field="expires_at")
    if not now + MIN_SESSION_LIFETIME <= expires_at <= now + MAX_SESSION_LIFETIME:
        raise ValidationError(
            "expires_at must be between 30 minutes and 24 hours from now.", field="expires_at"
        )
    return expires_at


@dataclass(frozen=True)
class NormalisedItems:
    items: list[dict]
    product_quantities: dict[int, int]
    ad_hoc: list[AdHocLine]
    total_minor: int


def normalise_line_items(*, seller: Any, currency: str, line_items: Any) -> NormalisedItems:
    if not isinstance(line_items, list) or not line_items:
        raise ValidationError("Give at least one line item.", field="line_items")
    if len(line_items) > MAX_LINES:
        raise ValidationError(f"At most {MAX_LINES} line items.", field="line_items")
    product_quantities: dict[int, int] = {}
    ad_hoc: list[AdHocLine] = []
    for index, item in enumerate(line_items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError("Each line item is an object.", field=where)
        unknown = set(item) - {"product_id", "name", "unit_amount_minor", "quantity"}
        if unknown:
            raise ValidationError(
                f"Unknown line item field: {sorted(unknown)[0]}.",
                field=f"{where}.{sorted(unknown)[0]}",
            )
        quantity = parse_quantity(item.get("quantity"), field=f"{where}.quantity")
        if "product_id" in item:
            if "name" in item or "unit_amount_minor" in item:
                raise ValidationError(
                    "A product line takes its name and price from the product: give "
                    "product_id and quantity only.",
                    field=where,
                )
            product_id = parse_product_id(item["product_id"], field=f"{where}.product_id")
            product_quantities[product_id] = parse_quantity(
                product_quantities.get(product_id, 0) + quantity, field=f"{where}.quantity"
            )
        else:
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ValidationError("Give the item's name.", field=f"{where}.name")
            name = " ".join(name.split())
            if len(name) > MAX_NAME_LENGTH:
                raise ValidationError(
                    f"At most {MAX_NAME_LENGTH} characters.", field=f"{where}.name"
                )
            unit = parse_positive_amount_minor(
                item.get("unit_amount_minor"), field=f"{where}.unit_amount_minor"
            )
            ad_hoc.append(AdHocLine(name=name, unit_amount_minor=unit, quantity=quantity))

    products = Product.objects.in_bulk(list(product_quantities))
    items: list[dict] = []
    total = 0
    for product_id, quantity in product_quantities.items():
        product = products.get(product_id)
        # Another seller's product is as unknown to this seller as a missing one.
        if product is None or not product.is_active or product.seller_id != seller.pk:
            raise UnknownProduct(field="product_id", extra={"product_id": product_id})
        if product.currency != currency:
            raise CurrencyMismatch(
                f"Product {product_id} is priced in {product.currency}, the session in {currency}.",
                field="currency",
            )
        if product.stock < quantity:
            raise OutOfStock(
                f"Only {product.stock} of product {product_id} left.",
                field="quantity",
                extra={"product_id": product_id, "available": product.stock},
            )
        items.append(
            {
                "product_id": product_id,
                "name": product.title,
                "unit_amount_minor": product.price_minor,
                "quantity": quantity,
                "amount_minor": product.price_minor * quantity,
            }
        )
        total += product.price_minor * quantity
    for line in ad_hoc:
        items.append(
            {
                "product_id": None,
                "name": line.name,
                "unit_amount_minor": line.unit_amount_minor,
                "quantity": line.quantity,
                "amount_minor": line.unit_amount_minor * line.quantity,
            }
        )
        total += line.unit_amount_minor * line.quantity
    if total > MAX_ORDER_TOTAL_MINOR:
        raise ValidationError(
            "The total is too large.", field="line_items", code="amount_too_large"
        )
    return NormalisedItems(
        items=items, product_quantities=product_quantities, ad_hoc=ad_hoc, total_minor=total
    )


def validate_email_address(value: Any, *, required: bool, field: str = "email") -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter a valid email address.", field=field)
    value = value.strip()
    if not value:
        if required:
            raise ValidationError("Enter your email address for the receipt.", field=field)
        return ""
    try:
        if len(value) > 254:
            raise DjangoValidationError("too long")
        validate_email(value)
    except DjangoValidationError:
        raise ValidationError("Enter a valid email address.", field=field) from None
    return value
