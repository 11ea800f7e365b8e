"""The dashboard's filter and export forms. A bad value (a date that is no date, an amount that is
no amount in the currency, a currency that is no ISO 4217 code, a range the wrong way round or
longer than an export may be) is a message beside its field; the list is then shown unfiltered.
Amounts are typed in major units, the seller's way (formatting.parse_amount), and need a
currency (an amount means nothing without one: 1000 is ten euros or a thousand yen)."""

from __future__ import annotations

from django import forms

from accounts.money_format import parse_amount
from core.money import currency_exponent
from payments.orders.buyer_reference import SHAPE as BUYER_REFERENCE
from settlement.dashboard.orders import LISTED_STATES, MIN_SEARCH, ORDER_NUMBER_PREFIX, OrderFilters
from settlement.dashboard.selectors import ListFilters
from settlement.models import PayoutStatus

# A range export streams (constant memory), but a range has a limit all the same: a year.
MAX_EXPORT_DAYS = 366
FILTER_FIELDS = (
    "currency",
    "date_from",
    "date_to",
    "amount_min",
    "amount_max",
    "status",
    "buyer",
    "q",
)


def _date_field(label: str, *, required: bool = False) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD, e.g. 2026-12-07."},
    )


def _clean_currency(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise forms.ValidationError("Use an ISO 4217 code in capitals, such as EUR.")
    try:
        currency_exponent(value)
    except ValueError:
        raise forms.ValidationError(f"{value} is not a currency one can be paid in.") from None
    return value


class ListFilterForm(forms.Form):
    currency = forms.CharField(label="Currency", required=False, max_length=8)
    date_from = _date_field("From")
    date_to = _date_field("To")
    amount_min = forms.CharField(label="Amount from", required=False, max_length=64)
    amount_max = forms.CharField(label="Amount up to", required=False, max_length=64)

    def __init__(self, *args, locale: str = "en", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.locale = locale
        for name in ("amount_min", "amount_max"):
            self.fields[name].widget.attrs.update(inputmode="decimal", size=10)
        self.fields["currency"].widget.attrs.update(size=4, placeholder="EUR")

    def clean_currency(self) -> str:
        return _clean_currency(self.cleaned_data.get("currency", ""))

    def _amount(self, name: str, currency: str) -> int | None:
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None
        if not currency:
            self.add_error(name, "Choose a currency to filter by amount.")
            return None
        try:
            return parse_amount(text, currency, self.locale)
        except ValueError:
            self.add_error(
                name, f"Enter an amount in {currency}, e.g. 12.50 (at most its decimals)."
            )
            return None

    def clean(self) -> dict:
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end is before the start.")
        currency = cleaned.get("currency") or ""
        low, high = self._amount("amount_min", currency), self._amount("amount_max", currency)
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "The upper amount is below the lower one.")
        cleaned["amount_min_minor"], cleaned["amount_max_minor"] = low, high
        return cleaned

    def filters(self) -> ListFilters:
        """What to filter on: nothing unless every field is good (a bad one: the list unfiltered)."""
        if not self.is_bound or not self.is_valid():
            return ListFilters()
        data = self.cleaned_data
        return ListFilters(
            currency=data.get("currency") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            amount_min_minor=data.get("amount_min_minor"),
            amount_max_minor=data.get("amount_max_minor"),
            status=data.get("status") or None,
        )


class PayoutFilterForm(ListFilterForm):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *PayoutStatus.choices]
    )

    field_order = ("status", "currency", "date_from", "date_to", "amount_min", "amount_max")


class OrderFilterForm(ListFilterForm):
    """The orders list's filters: the list's own (days placed, amounts) and a state, a buyer
    reference (as the order document shows it) and an order number to search for."""

    q = forms.CharField(label="Order number", required=False, max_length=64)
    status = forms.ChoiceField(label="State", required=False, choices=[("", "Any"), *LISTED_STATES])
    buyer = forms.CharField(label="Buyer reference", required=False, max_length=64)

    field_order = (
        "q", "status", "buyer", "currency", "date_from", "date_to", "amount_min", "amount_max",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(placeholder="CH-7K2M…", size=14)
        self.fields["buyer"].widget.attrs.update(placeholder="buyer_…", size=24)

    def clean_q(self) -> str:
        text = "".join((self.cleaned_data.get("q") or "").split()).upper()
        if not text:
            return ""
        code = text.removeprefix(ORDER_NUMBER_PREFIX)
        if len(code) < MIN_SEARCH or not code.replace("-", "").isalnum() or not code.isascii():
            raise forms.ValidationError(
                f"Enter at least {MIN_SEARCH} characters of an order number, e.g. CH-7K2M."
            )
        return text

    def clean_buyer(self) -> str:
        text = (self.cleaned_data.get("buyer") or "").strip().lower()
        if text and not BUYER_REFERENCE.match(text):
            raise forms.ValidationError(
                "Enter a buyer reference as the order document shows it: buyer_ and 32 "
                "hexadecimal digits."
            )
        return text

    def filters(self) -> OrderFilters:
        """What to filter on: nothing unless every field is good (a bad one: the list unfiltered)."""
        if not self.is_bound or not self.is_valid():
            return OrderFilters()
        data = self.cleaned_data
        return OrderFilters(
            status=data.get("status") or None,
            currency=data.get("currency") or None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            amount_min_minor=data.get("amount_min_minor"),
            amount_max_minor=data.get("amount_max_minor"),
            buyer_reference=data.get("buyer") or None,
            number=data.get("q") or None,
        )


class ExportForm(forms.Form):
    """A date range of the seller's batches (by the day each was made for), to download."""

    date_from = _date_field("From", required=True)
    date_to = _date_field("To", required=True)
    currency = forms.CharField(label="Currency (optional)", required=False, max_length=8)

    def clean_currency(self) -> str:
        return _clean_currency(self.cleaned_data.get("currency", ""))

    def clean(self) -> dict:
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to:
            if date_from > date_to:
                self.add_error("date_to", "The end is before the start.")
            elif (date_to - date_from).days + 1 > MAX_EXPORT_DAYS:
                self.add_error(
                    "date_to",
                    f"An export covers at most {MAX_EXPORT_DAYS} days; export a longer time "
                    "a year at a time.",
                )
        return cleaned


def filter_data(query: dict) -> dict | None:
    """The filter fields of a query string, or None when none is given (an unbound form)."""
    data = {name: query.get(name, "") for name in FILTER_FIELDS if name in query}
    return data or None
