"""Reference data for profiles: countries (ISO 3166-1 alpha-2) and currencies (ISO 4217), from babel.

Currencies offered are those legal tender in some country today (babel's CLDR data), so historic
codes such as DEM are refused. Decimal amounts typed by people become integer minor units here,
with the currency's exponent (JPY 0, USD 2, KWD 3); no float is ever involved.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.numbers import get_territory_currencies

from core.money import Money, currency_exponent

# Codes babel lists as territories that are not countries (or are only "exceptionally reserved"
# in ISO 3166-1). XK (Kosovo) stays: banks and the IBAN registry use it.
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)
# Larger than any real minimum payout; keeps the stored value far inside a 64-bit integer.
MAX_AMOUNT_MINOR = 10**15
# ASCII digits only: Decimal() would also accept other scripts' digits.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,18}(\.[0-9]{0,6})?")


@cache
def country_names() -> dict[str, str]:
    """{"DE": "Germany", ...} sorted by name."""
    territories = Locale("en").territories
    codes = [
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code.isupper() and code not in _NOT_COUNTRIES
    ]
    return dict(sorted(((code, territories[code]) for code in codes), key=lambda item: item[1]))


@cache
def currency_codes() -> tuple[str, ...]:
    """ISO 4217 codes that are legal tender somewhere (checked against babel's data for 2025)."""
    # A fixed date, not today: the list must not change between two runs of the test suite.
    on = datetime.date(2025, 1, 1)
    codes: set[str] = set()
    for territory in country_names():
        codes.update(get_territory_currencies(territory, start_date=on, tender=True))
    return tuple(sorted(codes))


def currency_choices() -> list[tuple[str, str]]:
    locale = Locale("en")
    return [(code, f"{code} - {locale.currencies.get(code, code)}") for code in currency_codes()]


def country_choices() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in country_names().items()]


def normalise_country(value: str) -> str | None:
    code = (value or "").strip().upper()
    return code if code in country_names() else None


def normalise_currency(value: str) -> str | None:
    code = (value or "").strip().upper()
    return code if code in currency_codes() else None


def parse_amount_to_minor(text: str, currency: str) -> int:
    """ "25.5" EUR -> 2550. Raises ValueError with a message for a person.

    Accepts digits with an optional decimal point; refuses more decimals than the currency has,
    negatives, exponents and thousands separators (ambiguous between locales).
    """
    if isinstance(text, float):
        raise ValueError('Send the amount as a string such as "25.00", not as a float.')
    raw = str(text).strip()
    if raw == "":
        raise ValueError("Enter an amount.")
    if not _PLAIN_AMOUNT.fullmatch(raw):
        raise ValueError("Enter a plain amount such as 25 or 25.00 (digits and one decimal point).")
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError("Enter a plain amount such as 25 or 25.00.") from exc
    exponent = currency_exponent(currency)
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        if exponent == 0:
            raise ValueError(f"{currency} has no decimal places: enter a whole amount.")
        raise ValueError(f"{currency} has {exponent} decimal places at most.")
    minor_int = int(minor)
    if minor_int > MAX_AMOUNT_MINOR:
        raise ValueError("That amount is too large.")
    return minor_int


def format_minor(amount_minor: int, currency: str) -> str:
    """2550 EUR -> "25.50" (plain, for form fields; not localised)."""
    return str(Money(amount_minor, currency).to_decimal())
