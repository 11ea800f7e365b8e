"""Forms of the storefront pages. They only shape input; services decide (and check again).

Card fields are never echoed back into the page after a failed submission, and never reach a
log: they are handed to payments.vault.cards.validate_card and from there to payment_start.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from django import forms

from core.errors import ValidationError as AppValidationError
from payments.orders.input import validate_shipping_address
from payments.vault.cards import validate_card

# ISO 3166-1 alpha-2 countries by their English names (CLDR, through babel); not the codes CLDR
# gives to groupings and placeholders.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"}
_COUNTRIES = sorted(
    (
        (code, name)
        for code, name in Locale("en").territories.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    ),
    key=lambda choice: choice[1],
)
COUNTRY_CHOICES = [("", "Choose a country"), *_COUNTRIES]

METHOD_CHOICES = [
    ("card", "Card"),
    ("alipay", "Alipay-style wallet"),
    ("wechat", "WeChat-style wallet"),
    ("bank_transfer", "Bank transfer"),
]
# form choice -> (payment method, wallet)
METHODS = {
    "card": ("card", None),
    "alipay": ("wallet", "alipay"),
    "wechat": ("wallet", "wechat"),
    "bank_transfer": ("bank_transfer", None),
}


class NeverEchoedInput(forms.TextInput):
    """A text input that renders empty after a failed submission (PAN, CVC stay out of HTML)."""

    def format_value(self, value: Any) -> None:
        return None


class QuantityForm(forms.Form):
    quantity = forms.CharField(
        label="Quantity",
        max_length=6,
        initial="1",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "pattern": "[0-9]*", "size": 4}),
    )


class ShippingAddressForm(forms.Form):
    name = forms.CharField(
        label="Full name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    line1 = forms.CharField(
        label="Address",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    line2 = forms.CharField(
        label="Address line 2 (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    city = forms.CharField(
        label="City",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    postal_code = forms.CharField(
        label="Postal code",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    country = forms.ChoiceField(
        label="Country",
        choices=COUNTRY_CHOICES,
        widget=forms.Select(attrs={"autocomplete": "country"}),
    )
    phone = forms.CharField(
        label="Phone (optional)",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.address = validate_shipping_address(
                {key: cleaned.get(key, "") for key in self.fields}
            )
        except AppValidationError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned


class PaymentMethodForm(forms.Form):
    """The method and, for cards, the card. Server-side checks: payments.vault.cards.validate_card."""

    method = forms.ChoiceField(
        label="Payment method", choices=METHOD_CHOICES, widget=forms.RadioSelect, initial="card"
    )
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=30,
        widget=NeverEchoedInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "data-card": "number"}
        ),
    )
    card_exp = forms.CharField(
        label="Expiry (MM/YY)",
        required=False,
        max_length=7,
        widget=NeverEchoedInput(
            attrs={
                "autocomplete": "cc-exp",
                "inputmode": "numeric",
                "placeholder": "MM/YY",
                "data-card": "exp",
                "size": 7,
            }
        ),
    )
    card_cvc = forms.CharField(
        label="Security code (CVC)",
        required=False,
        max_length=4,
        widget=NeverEchoedInput(
            attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "data-card": "cvc", "size": 5}
        ),
    )
    card_holder = forms.CharField(
        label="Name on card",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )

    # validate_card's field names -> this form's
    CARD_FIELDS = {
        "number": "card_number",
        "exp": "card_exp",
        "cvc": "card_cvc",
        "holder": "card_holder",
    }

    def clean(self) -> dict:
        cleaned = super().clean()
        self.card = None
        if self.errors or cleaned.get("method") != "card":
            return cleaned
        missing = False
        for name, message in (
            ("card_number", "Enter the card number."),
            ("card_exp", "Enter the expiry date as MM/YY."),
            ("card_cvc", "Enter the security code from the back of the card."),
        ):
            if not (cleaned.get(name) or "").strip():
                self.add_error(name, message)
                missing = True
        if missing:
            return cleaned
        month, year = _split_expiry(cleaned["card_exp"])
        if month is None:
            self.add_error("card_exp", "Enter the expiry date as MM/YY, e.g. 04/29.")
            return cleaned
        try:
            self.card = validate_card(
                number=cleaned["card_number"],
                exp_month=month,
                exp_year=year,
                cvc=cleaned["card_cvc"].strip(),
                holder=(cleaned.get("card_holder") or "").strip(),
            )
        except AppValidationError as error:
            self.add_error(self.CARD_FIELDS.get(error.field or ""), error.message)
        return cleaned

    @property
    def method_and_wallet(self) -> tuple[str, str | None]:
        return METHODS[self.cleaned_data["method"]]


def _split_expiry(text: str) -> tuple[str | None, str | None]:
    """ "04/29", "4/2029", "04 / 29", "0429" -> ("04", "29"); anything else -> (None, None)."""
    compact = "".join(text.split())
    if "/" in compact:
        month, _, year = compact.partition("/")
    elif compact.isdigit() and len(compact) in (4, 6):
        month, year = compact[:2], compact[2:]
    else:
        return None, None
    if not (month.isdigit() and year.isdigit() and 1 <= len(month) <= 2 and len(year) in (2, 4)):
        return None, None
    return month, year


class GuestEmailForm(forms.Form):
    email = forms.EmailField(
        label="Email (for the receipt)", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class DisputeForm(forms.Form):
    reason = forms.CharField(
        label="What went wrong?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Staff read this and decide; the money stays in escrow meanwhile.",
    )
