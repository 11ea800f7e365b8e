"""Amounts as ISO 20022 writes them: a plain decimal string in major units, exact both ways.

The number of decimals is the currency's exponent from core.money (JPY 0, EUR 2, KWD 3). Writing
never goes through float; reading refuses more decimals than the currency has (even zeros: "5.0"
JPY) rather than rounding, and refuses signs, exponents and blanks: ISO amounts are non-negative,
their direction is a separate credit/debit indicator.
"""

from __future__ import annotations

import re

from core.money import Money, currency_exponent

# ISO 20022 amounts (ActiveOrHistoricCurrencyAndAmount) and sums (DecimalNumber): 18 digits at
# most. The same bound keeps a hostile file from handing us a million-digit integer.
MAX_TOTAL_DIGITS = 18
MAX_AMOUNT_CHARS = 64  # leading zeros included: bounds the work before any digit is counted
_PLAIN_DECIMAL = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


class AmountError(ValueError):
    """An amount or currency that cannot be written or read exactly."""


def render_amount(amount_minor: int, currency: str) -> str:
    """Minor units as ISO 20022 text: 123456 EUR -> "1234.56", 1000 JPY -> "1000", 5 KWD -> "0.005"."""
    try:
        decimal = Money(amount_minor, currency).to_decimal()
    except (TypeError, ValueError) as error:  # NoMinorUnit is a ValueError
        raise AmountError(str(error)) from None
    text = format(decimal, "f")
    if count_digits(text) > MAX_TOTAL_DIGITS:
        raise AmountError(f"{text} {currency} has more than {MAX_TOTAL_DIGITS} digits")
    return text


def parse_amount(text: str, currency: str) -> int:
    """ISO 20022 amount text in `currency` -> minor units: "1234.56" EUR -> 123456.

    Raises AmountError for an unknown currency or one without minor unit, for anything that is not
    a plain non-negative decimal, and for more decimals than the currency allows.
    """
    try:
        exponent = currency_exponent(currency)
    except (TypeError, ValueError) as error:
        raise AmountError(str(error)) from None
    stripped = text.strip()
    if len(stripped) > MAX_AMOUNT_CHARS:
        raise AmountError(f"an amount is at most {MAX_AMOUNT_CHARS} characters")
    match = _PLAIN_DECIMAL.fullmatch(stripped)
    if match is None:
        raise AmountError(f"{text!r} is not a plain non-negative decimal amount")
    whole, fraction = match["whole"], match["fraction"] or ""
    if count_digits(stripped) > MAX_TOTAL_DIGITS:
        raise AmountError(f"{stripped!r} has more than {MAX_TOTAL_DIGITS} digits")
    if len(fraction) > exponent:
        raise AmountError(
            f"{stripped!r} has {len(fraction)} decimals; {currency} allows {exponent}: not rounded"
        )
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")


def count_digits(decimal_text: str) -> int:
    """Significant digits of a plain decimal string as xs:totalDigits counts them."""
    whole, _, fraction = decimal_text.partition(".")
    return max(len(whole.lstrip("0")) + len(fraction.rstrip("0")), 1)
