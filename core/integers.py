"""The one integer rule for input: every whole number the API takes (quantities, amounts in minor
units, ids, limits, stock changes) goes through `json_integer`, and a number that can only arrive as
text (a query parameter, an HTML form field) through `text_integer`, which then applies the same
bounds.

A JSON body's integer is a JSON integer: not a string ("2", "0001"), not a boolean (Python's True is
the int 1), not a float (2.0, 1e3); and it lies within the bounds the field declares. Text is ASCII
digits (with one leading minus where the field allows negative numbers): no "+", no "_" (which int()
accepts), no spaces inside, no Unicode digits ("١٢" is 12 to int()). Anything else is refused, not
guessed: code "invalid", the field named.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import ValidationError

# Far above any honest count of minor units or items, far below BIGINT's 9.2e18.
MAX_JSON_INTEGER = 10**15
_DIGITS = re.compile(r"-?[0-9]{1,19}")


def json_integer(
    value: Any,
    *,
    field: str,
    minimum: int,
    maximum: int,
    message: str | None = None,
    too_small: str | None = None,
    too_large: str | None = None,
) -> int:
    """`value` as given by a JSON parser, if it is an integer from `minimum` to `maximum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            message or f"{field} must be a whole number (a JSON integer, not text or a fraction).",
            field=field,
        )
    if value < minimum:
        raise ValidationError(too_small or f"{field} must be at least {minimum}.", field=field)
    if value > maximum:
        raise ValidationError(too_large or f"{field} must be at most {maximum}.", field=field)
    return value


def text_integer(
    text: Any,
    *,
    field: str,
    minimum: int,
    maximum: int,
    message: str | None = None,
    too_small: str | None = None,
    too_large: str | None = None,
) -> int:
    """A whole number written as text (query parameter, form field), under the same bounds."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not _DIGITS.fullmatch(stripped) or (stripped.startswith("-") and minimum >= 0):
        raise ValidationError(
            message or f"{field} must be a whole number from {minimum} to {maximum}.", field=field
        )
    return json_integer(
        int(stripped),
        field=field,
        minimum=minimum,
        maximum=maximum,
        too_small=too_small or message,
        too_large=too_large or message,
    )
