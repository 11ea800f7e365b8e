"""The one validation of seller profile fields, used by the sign-up and profile forms, the API and
the model's clean() (so Django admin runs it too). Errors name the field at fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from accounts import banking, reference
from core.errors import ValidationError as InputError
from core.integers import json_integer

if TYPE_CHECKING:
    from accounts.models import SellerProfile

IDENTITY_FIELDS = ("legal_name", "country", "default_currency", "settlement_currency")
BANK_FIELDS = ("bank_account_holder", "iban", "bic", "account_number", "routing_number")
PAYOUT_FIELDS = ("settlement_schedule", "minimum_payout", "paid_in_sale_currency")
PROFILE_FIELDS = IDENTITY_FIELDS + BANK_FIELDS + PAYOUT_FIELDS


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def clean_seller_profile(
    data: Mapping[str, Any],
    *,
    previous: SellerProfile | None = None,
    require_bank_account: bool = False,
) -> dict[str, Any]:
    """Validate and normalise seller profile input; return the model field values.

    `data` holds the fields of PROFILE_FIELDS (missing ones are taken from `previous`, so a partial
    update works). `minimum_payout` is a decimal amount in the settlement currency as typed by a
    person ("25.00"); it is stored as `minimum_payout_minor`. Raises django ValidationError with a
    message per field; the caller changes nothing in that case.
    """
    from accounts.models import SettlementSchedule

    merged: dict[str, Any] = {}
    for name in IDENTITY_FIELDS + BANK_FIELDS + ("settlement_schedule",):
        if name in data:
            merged[name] = _text(data, name)
        elif previous is not None:
            merged[name] = getattr(previous, name)
        else:
            merged[name] = ""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}

    legal_name = merged["legal_name"]
    if not legal_name:
        errors["legal_name"] = "Enter the business's legal name, as registered."
    elif len(legal_name) > 200:
        errors["legal_name"] = "Use at most 200 characters."
    cleaned["legal_name"] = legal_name

    country = reference.normalise_country(merged["country"])
    if country is None:
        errors["country"] = "Choose a country (ISO 3166 two-letter code, e.g. DE)."
    cleaned["country"] = country or merged["country"]

    for name in ("default_currency", "settlement_currency"):
        code = reference.normalise_currency(merged[name])
        if code is None:
            errors[name] = "Choose a currency in use today (ISO 4217 code, e.g. EUR)."
        cleaned[name] = code or merged[name]

    schedule = merged["settlement_schedule"] or SettlementSchedule.DAILY
    if schedule not in SettlementSchedule.values:
        errors["settlement_schedule"] = "Choose one of: " + ", ".join(SettlementSchedule.values)
    cleaned["settlement_schedule"] = schedule

    settlement_currency = cleaned["settlement_currency"]
    currency_known = "settlement_currency" not in errors
    amount = data.get("minimum_payout")
    if amount is not None and str(amount).strip() != "":
        if currency_known:
            try:
                cleaned["minimum_payout_minor"] = reference.parse_amount_to_minor(
                    amount, settlement_currency
                )
            except ValueError as exc:
                errors["minimum_payout"] = str(exc)
        else:
            errors["minimum_payout"] = "Choose a valid settlement currency first."
    elif "minimum_payout_minor" in data:
        minor = data["minimum_payout_minor"]
        try:
            cleaned["minimum_payout_minor"] = json_integer(
                minor,
                field="minimum_payout",
                minimum=0,
                maximum=reference.MAX_AMOUNT_MINOR,
                message="The minimum payout must be zero or more.",
                too_small="The minimum payout must be zero or more.",
                too_large="That amount is too large.",
            )
        except InputError as exc:
            errors["minimum_payout"] = exc.message
    elif previous is not None:
        if previous.settlement_currency != settlement_currency and previous.minimum_payout_minor:
            # The stored minor units mean something else in another currency: ask again.
            errors["minimum_payout"] = (
                f"Give the minimum payout again in {settlement_currency} "
                "when changing the settlement currency."
            )
        cleaned["minimum_payout_minor"] = previous.minimum_payout_minor
    else:
        cleaned["minimum_payout_minor"] = 0

    # The seller's word that the account on file takes every currency it sells in; without
    # it, other currencies are converted into the settlement currency before being paid.
    paid_in_sale_currency = data.get("paid_in_sale_currency")
    if paid_in_sale_currency is None:
        paid_in_sale_currency = previous.paid_in_sale_currency if previous is not None else False
    if not isinstance(paid_in_sale_currency, bool):
        errors["paid_in_sale_currency"] = "Answer true or false."
        paid_in_sale_currency = False
    cleaned["paid_in_sale_currency"] = paid_in_sale_currency

    holder = merged["bank_account_holder"]
    if len(holder) > 200:
        errors["bank_account_holder"] = "Use at most 200 characters."
    if country is not None:
        try:
            account = banking.validate_bank_account(
                country=country,
                iban=merged["iban"],
                bic=merged["bic"],
                account_number=merged["account_number"],
                routing_number=merged["routing_number"],
            )
        except banking.BankAccountErrors as exc:
            errors.update({name: message for name, message in exc.errors.items()})
            account = None
        if account is not None:
            cleaned.update(
                iban=account.iban,
                bic=account.bic,
                account_number=account.account_number,
                routing_number=account.routing_number,
            )
            has_account = bool(account.iban or account.account_number)
            if require_bank_account and not has_account:
                if banking.uses_iban(country):
                    errors["iban"] = "Enter the IBAN of the account your payouts go to."
                else:
                    errors["account_number"] = "Enter the account your payouts go to."
                    errors.setdefault(
                        "routing_number",
                        f"Enter the {banking.domestic_rule(country).routing_label.lower()}.",
                    )
            # The account holder defaults to the legal name; cleared with the account.
            cleaned["bank_account_holder"] = (holder or legal_name) if has_account else ""
            if cleaned["paid_in_sale_currency"] and not has_account:
                errors["paid_in_sale_currency"] = (
                    "Add the bank account that takes your sale currencies first: payouts in a "
                    "sale's own currency go to it."
                )

    if errors:
        raise ValidationError({name: [message] for name, message in errors.items()})
    return cleaned


def validate_seller_profile_model(profile: SellerProfile) -> None:
    """SellerProfile.clean(): same rules, on the instance's own values; normalises in place."""
    data = {name: getattr(profile, name) for name in IDENTITY_FIELDS + BANK_FIELDS}
    data["settlement_schedule"] = profile.settlement_schedule
    data["minimum_payout_minor"] = profile.minimum_payout_minor
    data["paid_in_sale_currency"] = profile.paid_in_sale_currency
    try:
        cleaned = clean_seller_profile(data)
    except ValidationError as exc:
        # Admin's form has minimum_payout_minor, not minimum_payout.
        errors = exc.message_dict
        if "minimum_payout" in errors:
            errors["minimum_payout_minor"] = errors.pop("minimum_payout")
        raise ValidationError(errors) from None
    for name, value in cleaned.items():
        setattr(profile, name, value)
