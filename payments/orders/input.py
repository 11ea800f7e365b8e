"""The checks on what a buyer or a shop sends for an order (shared by pages, the API and the
services): lines, quantities, amounts, the shipping address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationError
from core.integers import MAX_JSON_INTEGER, json_integer, text_integer
from payments.orders.errors import UnknownProduct
from payments.orders.models import MAX_LINES, MAX_QUANTITY_PER_LINE

# An order's total may not exceed this many minor units (10 billion in a 2-decimal currency):
# far above any honest basket, far below BigInteger overflow.
MAX_ORDER_TOTAL_MINOR = 10**12

_ADDRESS_FIELDS = {
    # name: (required, max length)
    "name": (True, 200),
    "line1": (True, 200),
    "line2": (False, 200),
    "city": (True, 100),
    "postal_code": (True, 20),
    "country": (True, 2),
    "phone": (False, 40),
}


@dataclass(frozen=True)
class CartLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class AdHocLine:
    """A line priced by the seller's own shop (Checkout Session API), with no product behind it."""

    name: str
    unit_amount_minor: int
    quantity: int


def parse_quantity(value: Any, *, field: str = "quantity") -> int:
    """A whole number of units from 1 to MAX_QUANTITY_PER_LINE, as a JSON integer (core.integers:
    no strings such as "0001", no booleans, no floats)."""
    return json_integer(
        value,
        field=field,
        minimum=1,
        maximum=MAX_QUANTITY_PER_LINE,
        message="Enter a whole number of units, like 1 or 2.",
        too_small="The quantity must be at least 1.",
        too_large=f"At most {MAX_QUANTITY_PER_LINE} units of one product per order.",
    )


def parse_quantity_text(text: Any, *, field: str = "quantity") -> int:
    """parse_quantity for a form field's text (the cart page)."""
    return parse_quantity(
        text_integer(
            text,
            field=field,
            minimum=0,
            maximum=MAX_JSON_INTEGER,
            message="Enter a whole number of units, like 1 or 2.",
        ),
        field=field,
    )


def parse_positive_amount_minor(value: Any, *, field: str = "unit_amount_minor") -> int:
    """A positive integer count of minor units (no floats, no strings), at most the order cap."""
    return json_integer(
        value,
        field=field,
        minimum=1,
        maximum=MAX_ORDER_TOTAL_MINOR,
        message="Give the amount as a whole number of minor units (e.g. 1999 for 19.99).",
        too_small="The amount must be positive.",
        too_large="The amount is too large.",
    )


def parse_product_id(value: Any, *, field: str = "product_id") -> int:
    """A product's id as a JSON integer; anything else names no product (UnknownProduct)."""
    try:
        return json_integer(value, field=field, minimum=1, maximum=MAX_JSON_INTEGER)
    except ValidationError:
        raise UnknownProduct(field=field) from None


def validate_shipping_address(data: Mapping[str, Any] | None) -> dict[str, str]:
    """Trimmed strings with required parts present and lengths bounded; country upper-cased."""
    if not isinstance(data, Mapping):
        raise ValidationError("Enter a shipping address.", field="shipping_address")
    unknown = set(data) - set(_ADDRESS_FIELDS)
    if unknown:
        raise ValidationError(
            f"Unknown address field: {sorted(unknown)[0]}.", field="shipping_address"
        )
    cleaned: dict[str, str] = {}
    for name, (required, max_length) in _ADDRESS_FIELDS.items():
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError("Enter text.", field=name)
        value = " ".join(value.split())
        if required and not value:
            raise ValidationError("This part of the address is required.", field=name)
        if len(value) > max_length:
            raise ValidationError(f"At most {max_length} characters.", field=name)
        if value:
            cleaned[name] = value
    country = cleaned["country"].upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise ValidationError("Use the two-letter country code, e.g. DE or US.", field="country")
    cleaned["country"] = country
    return cleaned


def normalise_cart_lines(cart_lines: Iterable[Any]) -> dict[int, int]:
    """{product_id: quantity}, duplicates merged, every value checked."""
    quantities: dict[int, int] = {}
    for count, line in enumerate(cart_lines, start=1):
        if count > MAX_LINES:
            raise ValidationError(f"At most {MAX_LINES} different products per order.")
        if isinstance(line, Mapping):
            product_id, quantity = line.get("product_id"), line.get("quantity")
        else:
            product_id, quantity = line.product_id, line.quantity
        product_id = parse_product_id(product_id)
        quantity = parse_quantity(quantity)
        quantities[product_id] = parse_quantity(quantities.get(product_id, 0) + quantity)
    if not quantities:
        raise ValidationError("Your cart is empty.", code="empty_cart")
    return quantities
