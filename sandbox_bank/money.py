"""Currencies and amounts as the bank writes them: integer minor units inside, decimals on paper.

The exponent comes from babel's CLDR data (JPY 0, EUR 2, KWD 3), as on the platform's side.
"""

from __future__ import annotations

import re
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

_CODE = re.compile(r"^[A-Z]{3}$")
# ISO 4217 codes with no minor unit: metals, funds, test codes. Nobody is paid in them.
_NOT_MONEY = frozenset(
    {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XEU", "XFO", "XFU", "XPD", "XPT", "XRE"}
    | {"XSU", "XTS", "XUA", "XXX"}
)
MAX_AMOUNT_MINOR = 10**15  # far above any one payout; bounds what a request can ask for


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: object) -> bool:
    return (
        isinstance(code, str) and bool(_CODE.match(code)) and code in _known()
    ) and code not in _NOT_MONEY


@lru_cache(maxsize=256)
def exponent(currency: str) -> int:
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    return get_currency_precision(currency)


def decimal_text(amount_minor: int, currency: str) -> str:
    """'1234.50' for 123450 EUR, '1234' for 1234 JPY, '1.234' for 1234 KWD; never negative (the
    side is said by a credit/debit indicator)."""
    assert amount_minor >= 0, amount_minor
    places = exponent(currency)
    if places == 0:
        return str(amount_minor)
    whole, fraction = divmod(amount_minor, 10**places)
    return f"{whole}.{fraction:0{places}d}"
