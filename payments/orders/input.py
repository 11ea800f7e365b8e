"""The checks on what a buyer or a shop sends for an order (shared by pages, the API and the
services): lines, quantities, amounts, the shipping address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationError
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
    """A whole number of units from 1 to MAX_QUANTITY_PER_LINE. Accepts an int or a string of
    digits (forms); refuses booleans, floats, fractions, signs, exponents and blanks."""
    if isinstance(value, bool):
        raise ValidationError("Enter a whole number of units.", field=field)
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            raise ValidationError("Enter a whole number of units, like 1 or 2.", field=field)
        value = int(text)
    if not isinstance(value, int):
        raise ValidationError("Enter a whole number of units.", field=field)
    if value < 1:
        raise ValidationError("The quantity must be at least 1.", field=field)
    if value > MAX_QUANTITY_PER_LINE:
        raise ValidationError(
            f"At most {MAX_QUANTITY_PER_LINE} units of one product per order.", field=field
        )
    return value


def parse_positive_amount_minor(value: Any, *, field: str = "unit_amount_minor") -> int:
    """A positive integer count of minor units (no floats, no strings), at most the order cap."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            "Give the amount as a whole number of minor units (e.g. 1999 for 19.99).", field=field
        )
    if value < 1:
        raise ValidationError("The amount must be positive.", field=field)
    if value > MAX_ORDER_TOTAL_MINOR:
        raise ValidationError("The amount is too large.", field=field)
    return value


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
        if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id < 1:
            raise UnknownProduct(field="product_id")
        quantity = parse_quantity(quantity)
        quantities[product_id] = parse_quantity(quantities.get(product_id, 0) + quantity)
    if not quantities:
        raise ValidationError("Your cart is empty.", code="empty_cart")
    return quantities
