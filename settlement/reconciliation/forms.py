"""The admin's reconciliation forms. They check shapes only; the services decide (and their
errors are shown next to the field they name)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from core.errors import ApplicationError
from core.money import Money
from settlement.reconciliation.adjustments import ADJUSTABLE_ACCOUNTS
from settlement.reconciliation.formats import FORMATS


def show_error(form: forms.Form, error: ApplicationError) -> None:
    """An application error next to the field it names (or above the form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class UploadForm(forms.Form):
    file = forms.FileField(help_text="camt.053 (XML), MT940 or CSV (docs/reconciliation.md)")
    format = forms.ChoiceField(choices=[("auto", "detect")] + [(f, f) for f in FORMATS])


class ResolveForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class MatchForm(forms.Form):
    lines = forms.CharField(help_text="statement line ids, separated by commas")
    payout = forms.CharField(required=False, help_text="a payout id")
    payment = forms.CharField(required=False, help_text="or a payment id (incoming transfer)")
    adjustment = forms.IntegerField(
        required=False, help_text="a posted adjustment covering the difference, if any"
    )
    note = forms.CharField(required=False)

    def clean_lines(self) -> list[int]:
        try:
            return [int(part) for part in self.cleaned_data["lines"].split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("Line ids are numbers separated by commas.") from None


class AdjustmentForm(forms.Form):
    account_code = forms.ChoiceField(choices=[(code, code) for code in ADJUSTABLE_ACCOUNTS])
    direction = forms.ChoiceField(
        choices=[("debit", "debit the account (money in)"), ("credit", "credit it (money out)")]
    )
    amount = forms.CharField(help_text="in major units, e.g. 12.50")
    currency = forms.CharField(max_length=3)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean(self):
        data = super().clean()
        if "amount" in data and "currency" in data:
            try:
                data["amount_minor"] = Money.parse(
                    data["amount"], data["currency"].upper()
                ).amount_minor
            except (ValueError, TypeError, ApplicationError) as error:
                self.add_error("amount", f"Not an amount in {data['currency']}: {error}")
        return data


class ReportForm(forms.Form):
    day = forms.DateField(required=False)

    def day_or_yesterday(self) -> dt.date:
        if self.is_valid() and self.cleaned_data.get("day"):
            return self.cleaned_data["day"]
        return timezone.now().date() - dt.timedelta(days=1)
