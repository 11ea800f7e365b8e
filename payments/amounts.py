"""Decimal strings on the wire <-> integer minor units, strictly (no float anywhere).

Wallet notifications carry amounts as decimal strings ("88.88"); these helpers accept only plain
digits with at most the currency's number of decimals, so "1e3", "-1", "1.005" (USD) and "" fail.
"""

from __future__ import annotations

import re

from core.money import currency_exponent

_DECIMAL = re.compile(r"^(\d{1,15})(?:\.(\d+))?$")


def minor_to_decimal(amount_minor: int, currency: str) -> str:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int")
    exponent = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    digits = str(abs(amount_minor))
    if exponent == 0:
        return sign + digits
    digits = digits.rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def decimal_to_minor(text: str, currency: str) -> int:
    match = _DECIMAL.match(text or "")
    if not match:
        raise ValueError("not a plain decimal amount")
    exponent = currency_exponent(currency)
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        raise ValueError(f"{currency} has {exponent} decimals")
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
