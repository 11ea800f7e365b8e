"""Card input: checked before anything is sent anywhere, and never persisted.

`validate_card` checks the number (digits, length, Luhn), the expiry and the CVC's length for the
brand, and returns a CardInput. A CardInput lives only in memory for one request: its repr masks the
number and the CVC, and it refuses to be pickled so that it cannot reach a cache, a session or a
task message by accident. The number goes into the vault (payments.vault); the CVC goes to the
processor's authorisation call and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.errors import ValidationError

# Issuer identification ranges (first digits) -> brand. Checked in order; the longest prefix wins.
_BRAND_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("amex", re.compile(r"^3[47]")),
    ("diners", re.compile(r"^3(?:0[0-5]|[68]|9)")),
    ("jcb", re.compile(r"^35(?:2[89]|[3-8]\d)")),
    ("discover", re.compile(r"^(?:6011|65|64[4-9])")),
    ("unionpay", re.compile(r"^62")),
    ("mastercard", re.compile(r"^(?:5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)")),
    ("visa", re.compile(r"^4")),
]
_LENGTHS = {
    "amex": {15},
    "diners": {14, 15, 16, 17, 18, 19},
    "jcb": {16, 17, 18, 19},
    "discover": {16, 17, 18, 19},
    "unionpay": {16, 17, 18, 19},
    "mastercard": {16},
    "visa": {13, 16, 19},
    "unknown": set(range(12, 20)),
}
BRAND_LABELS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "jcb": "JCB",
    "discover": "Discover",
    "unionpay": "UnionPay",
    "mastercard": "Mastercard",
    "visa": "Visa",
    "unknown": "Card",
}
# A card is not issued for longer than this: a year further out is a typing error.
_MAX_YEARS_AHEAD = 20


def _mask(number: str) -> str:
    return f"{'*' * max(len(number) - 4, 0)}{number[-4:]}" if number else ""


@dataclass(frozen=True, repr=False)
class CardInput:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    holder: str
    brand: str
    last4: str

    def __repr__(self) -> str:
        return (
            f"CardInput(number={_mask(self.number)!r}, exp_month={self.exp_month}, "
            f"exp_year={self.exp_year}, cvc='***', holder={self.holder!r}, brand={self.brand!r}, "
            f"last4={self.last4!r})"
        )

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        # Pickling is how objects reach caches, sessions and task queues: card data must not.
        raise TypeError("CardInput holds card data and must never be serialised")

    @property
    def masked_number(self) -> str:
        return _mask(self.number)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    for brand, pattern in _BRAND_PATTERNS:
        if pattern.match(digits):
            return brand
    return "unknown"


def _as_int(value: int | str, *, field_name: str, message: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(message, field=field_name)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit() or len(text) > 4:
        raise ValidationError(message, field=field_name)
    return int(text)


@sensitive_variables("number", "digits", "cvc", "cvc_text")
def validate_card(
    *,
    number: str,
    exp_month: int | str,
    exp_year: int | str,
    cvc: str,
    holder: str = "",
    today: dt.date | None = None,
) -> CardInput:
    """Check a card as typed by a buyer. Raises core.errors.ValidationError naming the field;
    the messages never repeat what was typed."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        raise ValidationError("Enter your card number.", field="number")
    if not digits.isdigit():
        raise ValidationError("A card number has only digits.", field="number")
    brand = card_brand(digits)
    if len(digits) not in _LENGTHS[brand] or not luhn_valid(digits):
        raise ValidationError(
            "This card number is not valid. Check it and try again.", field="number"
        )

    if exp_month in (None, "") or exp_year in (None, ""):
        raise ValidationError("Enter the card's expiry month and year.", field="exp")
    month = _as_int(exp_month, field_name="exp", message="Enter the expiry month as a number.")
    year = _as_int(exp_year, field_name="exp", message="Enter the expiry year as a number.")
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise ValidationError("The expiry month must be between 1 and 12.", field="exp")
    today = today or timezone.now().date()
    # A card is valid through the last day of its expiry month.
    if (year, month) < (today.year, today.month):
        raise ValidationError("This card has expired. Use another card.", field="exp")
    if year > today.year + _MAX_YEARS_AHEAD:
        raise ValidationError("The expiry year is not valid.", field="exp")

    cvc_text = (cvc or "").strip()
    expected = 4 if brand == "amex" else 3
    if not cvc_text:
        raise ValidationError("Enter the security code (CVC).", field="cvc")
    if not cvc_text.isdigit() or len(cvc_text) != expected:
        raise ValidationError(
            f"The security code (CVC) is {expected} digits on this card.", field="cvc"
        )

    holder = (holder or "").strip()
    if len(holder) > 100:
        raise ValidationError("The cardholder name is too long.", field="holder")
    return CardInput(
        number=digits,
        exp_month=month,
        exp_year=year,
        cvc=cvc_text,
        holder=holder,
        brand=brand,
        last4=digits[-4:],
    )
