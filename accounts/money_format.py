"""Money on a seller's pages: always with its currency, in the seller's locale (babel, through
core.money: the project's one formatting and parsing of amounts), shown and typed alike.

The seller's locale is the likely locale of the country on the seller's profile (CLDR's likely
subtags: DE -> de_DE, US -> en_US, JP -> ja_JP): "1.234,56 €" for a German seller, "$1,234.56"
for an American one. The project has no per-user language yet; this is the one place to change
when it does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberFormatError, get_decimal_symbol
from django.core.exceptions import ObjectDoesNotExist

from core.money import Money, currency_exponent

DEFAULT_LOCALE = "en"
# Digits with an optional decimal point: read the same in every locale that uses a dot.
_PLAIN = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")
_GROUPED = re.compile(r"\.[0-9]{3}")


@lru_cache(maxsize=256)
def _likely_locale(country: str) -> str:
    try:
        return str(Locale.parse(f"und_{country}"))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE


def seller_locale(profile: object | None) -> str:
    """The locale a seller's amounts are written in (DEFAULT_LOCALE without a known country)."""
    country = str(getattr(profile, "country", "") or "").upper()
    if len(country) != 2 or not country.isalpha():
        return DEFAULT_LOCALE
    return _likely_locale(country)


def parse_typed_amount(text: str, currency: str, locale: str) -> int:
    """An amount typed into a form that moves money (a refund), in minor units: digits with one
    decimal separator, the locale's or a dot, and no thousands separator. "12,50" and "12.50" are
    12.50 for a German seller; "1.250" is refused (too many decimals), never read as 1,250 as
    parse_amount would read it in de_DE: a misread refund cannot be taken back. ValueError."""
    text = text.strip()
    decimal = get_decimal_symbol(locale)
    if decimal != "." and _GROUPED.search(text):
        # Where the decimal mark is a comma, a dot before three digits is the thousands mark to
        # the seller and a decimal point to the plain reading: ambiguous, so refused (KWD has
        # three decimals: "1.250" there is 1.25 or 1250).
        raise ValueError(f"{text!r}: a dot before three digits could be a thousands separator")
    plain = text.replace(decimal, ".", 1) if decimal != "." else text
    if not _PLAIN.fullmatch(plain):
        raise ValueError(f"{text!r} is not digits with one decimal separator")
    return Money.parse(plain, currency, DEFAULT_LOCALE).amount_minor


def user_money_locale(user: object) -> str:
    """The locale a user's pages write amounts in: a seller's, by the profile; anyone else's
    (buyers, staff, a seller without a profile yet) DEFAULT_LOCALE."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "role", "") != "seller":
        return DEFAULT_LOCALE
    try:
        return seller_locale(user.seller_profile)  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        return DEFAULT_LOCALE


def amount_example(currency: str, locale: str) -> str:
    """How an amount is typed in `locale`: "12,50" (de_DE EUR), "12.50" (en), "1250" (JPY)."""
    decimals = currency_exponent(currency)
    if not decimals:
        return "1250"
    return f"12{get_decimal_symbol(locale)}{'5'.ljust(decimals, '0')}"


@lru_cache(maxsize=4096)  # a page repeats amounts (zeros, a day's figures in its chart and table)
def format_money(amount_minor: int, currency: str, locale: str) -> str:
    """ "1.234,56 €" (de_DE), "$1,234.56" (en_US), "¥1,235" (JPY): the currency's own decimals."""
    return Money(int(amount_minor), currency).format(locale)


def parse_amount(text: str, currency: str, locale: str) -> int:
    """An amount typed by the seller, in minor units: written the seller's way ("1.234,56" in
    de_DE), or as plain digits with a dot for decimals ("1234.56"). ValueError when it is
    neither, or has more decimals than the currency has ("1,234" in de_DE is 1.234: refused for
    EUR, not read as 1234)."""
    text = text.strip()
    try:
        return Money.parse(text, currency, locale).amount_minor
    except NumberFormatError as error:  # not a number written the locale's way
        if not _PLAIN.fullmatch(text):
            raise ValueError(str(error)) from None
    return Money.parse(text, currency, DEFAULT_LOCALE).amount_minor
