"""Forms collect input; the services validate it (so the API gets the same rules)."""

from __future__ import annotations

import logging

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.core.exceptions import ValidationError as DjangoValidationError

from accounts import reference
from accounts.models import KeyPurpose, SettlementSchedule
from accounts.services import SIGNING_ALGORITHMS
from core.errors import ApplicationError

logger = logging.getLogger(__name__)


def add_service_error(form: forms.Form, exc: Exception) -> None:
    """Show a service's error on the field it names (or above the form)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc)
    elif isinstance(exc, ApplicationError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    else:
        raise exc


def _blank_first(choices: list[tuple[str, str]], label: str = "Choose…") -> list[tuple[str, str]]:
    return [("", label), *choices]


class LoginForm(AuthenticationForm):
    """Email + password. Django's LoginView passes `request` to authenticate(), which django-axes
    needs to count failures per email and IP address."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def clean_username(self) -> str:
        # One spelling per address, so axes counts "A@x.com" and "a@x.com" as one account.
        return self.cleaned_data["username"].strip().lower()

    def clean(self) -> dict:
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and user.is_seller:
            # The one moment (besides sign-up) the password is known: make missing dashboard keys.
            from accounts.dashboard_keys import dashboard_keys_login

            try:
                dashboard_keys_login(seller=user, password=cleaned.get("password") or "")
            except Exception:  # never block a login on them; the next login tries again
                logger.exception("dashboard keys not ensured at login")
        return cleaned


class DashboardKeyPasswordChangeForm(PasswordChangeForm):
    """Password change that re-locks the seller's dashboard keys under the new password."""

    def save(self, commit: bool = True):
        from django.db import transaction

        from accounts.dashboard_keys import dashboard_keys_ensure, dashboard_keys_rewrap

        with transaction.atomic():
            user = super().save(commit=commit)
            if user.is_seller:
                dashboard_keys_rewrap(
                    seller=user,
                    old_password=self.cleaned_data["old_password"],
                    new_password=self.cleaned_data["new_password1"],
                )
                dashboard_keys_ensure(seller=user, password=self.cleaned_data["new_password1"])
        return user


class DashboardKeySetPasswordForm(SetPasswordForm):
    """Password reset: the old password is unknown, so the dashboard keys are replaced."""

    def save(self, commit: bool = True):
        from django.db import transaction

        from accounts.dashboard_keys import dashboard_keys_reset

        with transaction.atomic():
            user = super().save(commit=commit)
            if user.is_seller:
                dashboard_keys_reset(seller=user, new_password=self.cleaned_data["new_password1"])
        return user


class SellerIdentityFields(forms.Form):
    legal_name = forms.CharField(
        label="Legal name",
        required=False,
        max_length=200,
        help_text="The business's registered name; it appears on statements and receipts.",
    )
    # Plain text fields shown as <select>: the service checks the codes, with every other field,
    # so a form shows all its errors at once and the API gets the same messages.
    country = forms.CharField(label="Country", required=False, widget=forms.Select)
    default_currency = forms.CharField(
        label="Default currency",
        required=False,
        widget=forms.Select,
        help_text="The currency your prices are in.",
    )
    settlement_currency = forms.CharField(
        label="Settlement currency",
        required=False,
        widget=forms.Select,
        help_text="The currency paid to your bank account.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].widget.choices = _blank_first(reference.country_choices())
        currencies = _blank_first(reference.currency_choices())
        self.fields["default_currency"].widget.choices = currencies
        self.fields["settlement_currency"].widget.choices = currencies


class SignUpForm(SellerIdentityFields):
    role = forms.ChoiceField(
        label="I want to",
        choices=[("buyer", "Buy (buyer account)"), ("seller", "Sell (seller account)")],
        widget=forms.RadioSelect,
        initial="buyer",
    )
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    display_name = forms.CharField(
        label="Your name", required=False, max_length=150, help_text="Optional."
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common password, not only digits.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    field_order = ["role", "email", "display_name", "password1", "password2"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if (
            cleaned.get("password1")
            and cleaned.get("password2")
            and cleaned["password1"] != cleaned["password2"]
        ):
            self.add_error("password2", "The two passwords do not match.")
        return cleaned

    def seller_profile_data(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in SellerIdentityFields.base_fields}


class SellerProfileForm(SellerIdentityFields):
    bank_account_holder = forms.CharField(
        label="Account holder",
        required=False,
        max_length=200,
        help_text="Defaults to the legal name.",
    )
    iban = forms.CharField(
        label="IBAN",
        required=False,
        max_length=50,
        help_text="For countries that use IBAN (most of Europe, the Middle East, Brazil…).",
    )
    bic = forms.CharField(
        label="BIC (SWIFT code)",
        required=False,
        max_length=20,
        help_text="8 or 11 characters; filled in from the IBAN when the bank is known.",
    )
    account_number = forms.CharField(
        label="Account number",
        required=False,
        max_length=40,
        help_text="For countries without IBAN (US, Japan, Canada, Australia…). Digits only.",
    )
    routing_number = forms.CharField(
        label="Routing / bank code",
        required=False,
        max_length=40,
        help_text="US: 9-digit ABA routing number. Japan: bank code + branch code (0001-001).",
    )
    settlement_schedule = forms.ChoiceField(
        label="Settlement schedule", choices=SettlementSchedule.choices
    )
    minimum_payout = forms.CharField(
        label="Minimum payout",
        required=False,
        max_length=30,
        help_text="In the settlement currency, e.g. 25.00 (JPY: whole yen). Smaller balances wait.",
    )
    paid_in_sale_currency = forms.BooleanField(
        label="Pay each sale in its own currency",
        required=False,
        help_text=(
            "Only if your bank account takes every currency you sell in. Otherwise sales in "
            "other currencies are converted into your settlement currency before they are paid."
        ),
    )


class KeyGenerateForm(forms.Form):
    purpose = forms.ChoiceField(label="Purpose", choices=KeyPurpose.choices)
    algorithm = forms.ChoiceField(
        label="Algorithm (signing keys)",
        choices=list(SIGNING_ALGORITHMS.items()),
        initial="ed25519",
        help_text="Encryption keys are always RSA-3072 (OAEP).",
    )
    label = forms.CharField(label="Label", required=False, max_length=100, help_text="Optional.")


class KeyUploadForm(forms.Form):
    purpose = forms.ChoiceField(label="Purpose", choices=KeyPurpose.choices)
    public_pem = forms.CharField(
        label="Public key (PEM)",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=(
            "-----BEGIN PUBLIC KEY----- … Signing: Ed25519 or RSA (at least 2048 bits). "
            "Encryption: RSA (at least 2048 bits)."
        ),
        max_length=20_000,
    )
    label = forms.CharField(label="Label", required=False, max_length=100, help_text="Optional.")


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="Where the key is used, e.g. “shop backend”."
    )
