"""Money as an integer count of minor units and an ISO 4217 currency. No float ever touches it.

- currency_exponent(code): decimals of the minor unit, from babel's CLDR currency data
  (JPY 0, USD 2, KWD 3), not a hand-written table. Unknown code, or one with no minor unit in
  ISO 4217 (XAU, XXX, ...) -> ValueError.
- Money(amount_minor, currency): arithmetic only between the same currency.
- allocate(total_minor, ratios): split into parts that sum exactly to the total.
- fee_from_bps / split_fee: a fee in basis points, rounded half-up (ties away from zero).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies, parse_decimal

BPS_DENOMINATOR = 10_000
MAX_FEE_BPS = BPS_DENOMINATOR  # a fee is never more than the amount
MAX_ALLOCATION_PARTS = 10_000
MAX_PARSE_CHARS = 64
_CODE = re.compile(r"^[A-Z]{3}$")


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


# ISO 4217 codes with no minor unit ("N.A."): precious metals, bond-market units, the SDR, the
# testing and "no currency" codes, and old accounting units. Nobody pays in them: every part of
# the platform refuses them through this one rule.
_NOT_MONEY = frozenset(
    {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XEU", "XFO", "XFU", "XPD", "XPT", "XRE"}
    | {"XSU", "XTS", "XUA", "XXX"}
)


class NoMinorUnit(ValueError):
    """An ISO 4217 code that is not money to pay in (no minor unit)."""


def _normalise_code(code: object) -> str:
    if not isinstance(code, str):
        raise TypeError(f"a currency code is a str, not {type(code).__name__}")
    upper = code.upper()
    if not _CODE.match(upper) or upper not in _known_currencies():
        raise ValueError(f"unknown currency code {code!r}")
    if upper in _NOT_MONEY:
        raise NoMinorUnit(f"{upper} has no minor unit in ISO 4217: not a currency to pay in")
    return upper


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Number of decimals of `code`'s minor unit (JPY 0, USD 2, KWD 3); ValueError if unknown."""
    return get_currency_precision(_normalise_code(code))


def _require_int(value: object, name: str) -> int:
    # bool is an int subclass: True would silently be 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _locale(locale: object) -> Locale:
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"unknown locale {locale!r}") from None


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents, yen, fils) of one currency; the code is stored uppercase."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        _require_int(self.amount_minor, "amount_minor")
        object.__setattr__(self, "currency", _normalise_code(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str, locale: str = "en") -> Money:
        """Parse a decimal amount written in `locale`'s format ("1,234.56" en, "1.234,56" de).

        Refuses (ValueError) more fractional digits than the currency has, even zeros
        ("1.234" USD, "5.0" JPY): no silent rounding. Refuses exponents, NaN and infinities.
        """
        code = _normalise_code(currency)
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        if len(text) > MAX_PARSE_CHARS:
            raise ValueError(f"an amount is at most {MAX_PARSE_CHARS} characters")
        if "e" in text.lower():
            raise ValueError(f"{text!r} is not a plain decimal amount")
        # strict: "1,23" in en is refused, not read as 123.
        number = parse_decimal(text.strip(), locale=_locale(locale), strict=True)
        if not number.is_finite():
            raise ValueError(f"{text!r} is not a finite amount")
        sign, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)  # finite, checked above
        allowed = currency_exponent(code)
        if -exponent > allowed:
            raise ValueError(f"{text!r} has {-exponent} decimals; {code} allows {allowed}")
        magnitude = int("".join(map(str, digits))) * 10 ** (exponent + allowed)
        return cls(-magnitude if sign else magnitude, code)

    def to_decimal(self) -> Decimal:
        """The exact amount in major units (for display and export, never for arithmetic)."""
        with localcontext() as context:
            context.prec = max(28, len(str(abs(self.amount_minor))) + 1)
            return Decimal(self.amount_minor).scaleb(-currency_exponent(self.currency))

    def format(self, locale: str = "en") -> str:
        """Localised text with the currency's own decimals: "$1,234.56", "1.234,56\xa0€", "¥1,235"."""
        return format_currency(
            self.to_decimal(), self.currency, locale=_locale(locale), currency_digits=True
        )

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"

    def _same_currency(self, other: Money, operation: str) -> None:
        if self.currency != other.currency:
            raise ValueError(
                f"cannot {operation} {self.currency} and {other.currency}: currencies differ"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            # A float or Decimal factor would need rounding: use allocate or fee_from_bps.
            return NotImplemented
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def _compare(self, other: object) -> int | None:
        if not isinstance(other, Money):
            return None
        self._same_currency(other, "compare")
        return self.amount_minor - other.amount_minor

    def __lt__(self, other: object) -> bool:
        difference = self._compare(other)
        return NotImplemented if difference is None else difference < 0

    def __le__(self, other: object) -> bool:
        difference = self._compare(other)
        return NotImplemented if difference is None else difference <= 0

    def __gt__(self, other: object) -> bool:
        difference = self._compare(other)
        return NotImplemented if difference is None else difference > 0

    def __ge__(self, other: object) -> bool:
        difference = self._compare(other)
        return NotImplemented if difference is None else difference >= 0


def allocate(total_minor: int, ratios: list[int]) -> list[int]:
    """Split `total_minor` in proportion to `ratios` (largest-remainder method).

    Each part gets the floor of its exact share; the units left over go one each to the parts
    with the largest fractional remainders, ties to the earliest index. The parts sum exactly to
    the total and each is within 1 of its exact share; a zero ratio gets 0. A negative total is
    split as its absolute value, then negated (symmetric). Ratios: non-negative ints, positive sum.
    """
    _require_int(total_minor, "total_minor")
    if not isinstance(ratios, list | tuple) or not ratios:
        raise ValueError("ratios must be a non-empty list of ints")
    if len(ratios) > MAX_ALLOCATION_PARTS:
        raise ValueError(f"at most {MAX_ALLOCATION_PARTS} parts")
    for ratio in ratios:
        _require_int(ratio, "each ratio")
        if ratio < 0:
            raise ValueError("ratios must not be negative")
    ratio_sum = sum(ratios)
    if ratio_sum == 0:
        raise ValueError("ratios must have a positive sum")

    magnitude = abs(total_minor)
    shares = [divmod(magnitude * ratio, ratio_sum) for ratio in ratios]
    parts = [quotient for quotient, _ in shares]
    leftover = magnitude - sum(parts)
    assert 0 <= leftover < len(ratios)
    by_remainder = sorted(range(len(ratios)), key=lambda index: (-shares[index][1], index))
    for index in by_remainder[:leftover]:
        parts[index] += 1
    if total_minor < 0:
        parts = [-part for part in parts]
    assert sum(parts) == total_minor
    return parts


def fee_from_bps(amount_minor: int, fee_bps: int) -> int:
    """The fee on `amount_minor` at `fee_bps` basis points (1 bps = 0.01 %), in minor units.

    exact = amount * bps / 10000, rounded half-up: to the nearest minor unit, ties away from zero
    (1005 at 250 bps = 25.125 -> 25; 100 at 50 bps = 0.5 -> 1; -100 at 50 bps -> -1). Integer
    arithmetic only. 0 <= fee_bps <= 10000, so |fee| <= |amount|.
    """
    _require_int(amount_minor, "amount_minor")
    _require_int(fee_bps, "fee_bps")
    if not 0 <= fee_bps <= MAX_FEE_BPS:
        raise ValueError(f"fee_bps must be from 0 to {MAX_FEE_BPS}")
    magnitude = (abs(amount_minor) * fee_bps + BPS_DENOMINATOR // 2) // BPS_DENOMINATOR
    return -magnitude if amount_minor < 0 else magnitude


def split_fee(amount_minor: int, fee_bps: int) -> tuple[int, int]:
    """(net, fee) with fee = fee_from_bps(amount_minor, fee_bps) and net + fee == amount_minor."""
    fee = fee_from_bps(amount_minor, fee_bps)
    return amount_minor - fee, fee
