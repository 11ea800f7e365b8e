"""Payout bank accounts: which format a country uses and whether an account is well formed.

- Countries in the official IBAN registry (schwifty knows them) pay to IBAN + BIC. The IBAN's
  checksum, length and national format are checked by schwifty; the BIC's structure too, and its
  country must be the IBAN's (or the parent country for territories that use its banks, e.g.
  Réunion -> FR). A missing BIC is filled in from the IBAN when schwifty knows the bank. Within
  SEPA the account may be in another SEPA country than the seller; outside it, the seller's own.
- Other countries pay to a domestic account number + routing (bank/branch) code:

  country  routing / bank code                          account number
  US       ABA routing number: 9 digits + checksum      4-17 digits
  CA       institution (3) + transit (5): 8 digits      7-12 digits
  AU       BSB: 6 digits                                5-9 digits
  JP       bank code (4) + branch code (3): 7 digits    7 digits
  IN       IFSC: 4 letters, 0, 6 letters or digits      9-18 digits
  others   bank/branch code: 3-15 letters or digits     4-20 digits

  Spaces and hyphens are ignored when typed and not stored.

Countries whose IBAN format is only "aspirational" (reserved, not in the registry) use the
domestic rules, as their banks do today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors
from schwifty import registry as schwifty_registry

# Territories whose banks use the parent country's BIC country code.
_BIC_PARENT_COUNTRY = {
    **dict.fromkeys(["GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "TF"], "FR"),
    "MC": "FR",
    "AX": "FI",
    "JE": "GB",
    "GG": "GB",
    "IM": "GB",
    "VA": "IT",
}


@dataclass(frozen=True)
class DomesticRule:
    routing_label: str
    routing_help: str
    routing_pattern: str  # full match, after removing spaces and hyphens
    account_help: str
    account_min_digits: int
    account_max_digits: int
    aba_checksum: bool = False


_DOMESTIC_RULES: dict[str, DomesticRule] = {
    "US": DomesticRule(
        "ABA routing number",
        "9 digits, e.g. 021000021.",
        r"[0-9]{9}",
        "4 to 17 digits.",
        4,
        17,
        aba_checksum=True,
    ),
    "CA": DomesticRule(
        "Institution and transit number",
        "3-digit institution + 5-digit transit, e.g. 003-12345.",
        r"[0-9]{8}",
        "7 to 12 digits.",
        7,
        12,
    ),
    "AU": DomesticRule("BSB", "6 digits, e.g. 062-000.", r"[0-9]{6}", "5 to 9 digits.", 5, 9),
    "JP": DomesticRule(
        "Bank code and branch code",
        "4-digit bank code + 3-digit branch code, e.g. 0001-001.",
        r"[0-9]{7}",
        "7 digits.",
        7,
        7,
    ),
    "IN": DomesticRule(
        "IFSC",
        "11 characters, e.g. SBIN0000001.",
        r"[A-Z]{4}0[A-Z0-9]{6}",
        "9 to 18 digits.",
        9,
        18,
    ),
}
_DEFAULT_DOMESTIC_RULE = DomesticRule(
    "Bank / branch code",
    "3 to 15 letters or digits, as your bank gives it.",
    r"[A-Z0-9]{3,15}",
    "4 to 20 digits.",
    4,
    20,
)
_SEPARATORS = re.compile(r"[\s\-]+")


def uses_iban(country: str) -> bool:
    """Is `country` in the official IBAN registry (schwifty's data)?"""
    try:
        spec = schwifty_registry.get_iban_spec(country)
    except schwifty_errors.InvalidCountryCode:
        return False
    return not spec.aspirational


def in_sepa(country: str) -> bool:
    try:
        return bool(schwifty_registry.get_iban_spec(country).in_sepa_zone)
    except schwifty_errors.InvalidCountryCode:
        return False


def domestic_rule(country: str) -> DomesticRule:
    return _DOMESTIC_RULES.get(country, _DEFAULT_DOMESTIC_RULE)


def aba_routing_number_is_valid(number: str) -> bool:
    """ABA routing transit number: 9 digits, a Federal Reserve prefix, and the 3-7-1 checksum."""
    if not re.fullmatch(r"[0-9]{9}", number):
        return False
    prefix = int(number[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    digits = [int(ch) for ch in number]
    weighted = 3 * (digits[0] + digits[3] + digits[6])
    weighted += 7 * (digits[1] + digits[4] + digits[7])
    weighted += digits[2] + digits[5] + digits[8]
    return weighted % 10 == 0


def compact(value: str) -> str:
    return _SEPARATORS.sub("", value or "").upper()


@dataclass(frozen=True)
class BankAccount:
    iban: str = ""
    bic: str = ""
    account_number: str = ""
    routing_number: str = ""


class BankAccountErrors(Exception):
    """Field name -> message, for every field at fault."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


_IBAN_MESSAGES = {
    schwifty_errors.InvalidChecksumDigits: "This IBAN's check digits are wrong: check for a typo.",
    schwifty_errors.InvalidLength: "This IBAN has the wrong length for its country.",
    schwifty_errors.InvalidCountryCode: "This IBAN does not start with a known country code.",
    schwifty_errors.InvalidStructure: "This IBAN has characters its country's format does not allow.",
    schwifty_errors.InvalidBBANChecksum: "This IBAN's national check digits are wrong.",
}


def _iban_error(exc: Exception) -> str:
    for kind, message in _IBAN_MESSAGES.items():
        if isinstance(exc, kind):
            return message
    return "This is not a valid IBAN."


def validate_bank_account(
    *, country: str, iban: str, bic: str, account_number: str, routing_number: str
) -> BankAccount:
    """Check a payout account for `country` and return it normalised. All blank is allowed (no
    account on file yet). Raises BankAccountErrors naming each field at fault."""
    iban, bic = compact(iban), compact(bic)
    account_number, routing_number = compact(account_number), compact(routing_number)
    if not any([iban, bic, account_number, routing_number]):
        return BankAccount()
    if uses_iban(country):
        return _validate_iban_account(country, iban, bic, account_number, routing_number)
    return _validate_domestic_account(country, iban, bic, account_number, routing_number)


def _validate_iban_account(
    country: str, iban: str, bic: str, account_number: str, routing_number: str
) -> BankAccount:
    errors: dict[str, str] = {}
    parsed: IBAN | None = None
    if not iban:
        errors["iban"] = f"Accounts in {country} are paid by IBAN: enter the account's IBAN."
    else:
        try:
            parsed = IBAN(iban, validate_bban=True)
        except schwifty_errors.SchwiftyException as exc:
            errors["iban"] = _iban_error(exc)
    if parsed is not None:
        iban_country = parsed.country_code
        same_country = iban_country == country
        if not same_country and not (in_sepa(country) and in_sepa(iban_country)):
            errors["iban"] = (
                f"This IBAN is for an account in {iban_country}; the payout account must be in "
                f"{country} (or in another SEPA country for sellers in SEPA)."
            )
        elif not uses_iban(iban_country):
            errors["iban"] = f"{iban_country} IBANs are not in the official registry yet."
    if not bic and parsed is not None and parsed.bic is not None:
        bic = parsed.bic.compact  # schwifty knows the bank: fill in its BIC
    if not bic:
        errors.setdefault("bic", "Enter the bank's BIC (SWIFT code), 8 or 11 characters.")
    else:
        try:
            parsed_bic = BIC(bic)
        except schwifty_errors.SchwiftyException:
            errors["bic"] = "This is not a valid BIC: 8 or 11 letters and digits, e.g. COBADEFFXXX."
        else:
            if parsed is not None and "iban" not in errors:
                iban_country = parsed.country_code
                allowed = {iban_country, _BIC_PARENT_COUNTRY.get(iban_country, iban_country)}
                if parsed_bic.country_code not in allowed:
                    errors["bic"] = (
                        f"This BIC is for a bank in {parsed_bic.country_code}, "
                        f"but the IBAN is for {iban_country}."
                    )
            bic = parsed_bic.compact
    if account_number:
        errors["account_number"] = "Leave this empty: accounts in this country are paid by IBAN."
    if routing_number:
        errors["routing_number"] = "Leave this empty: accounts in this country are paid by IBAN."
    if errors:
        raise BankAccountErrors(errors)
    assert parsed is not None
    return BankAccount(iban=parsed.compact, bic=bic)


def _validate_domestic_account(
    country: str, iban: str, bic: str, account_number: str, routing_number: str
) -> BankAccount:
    rule = domestic_rule(country)
    errors: dict[str, str] = {}
    if iban:
        errors["iban"] = (
            f"{country} does not use IBAN: enter the account number and "
            f"{rule.routing_label.lower()} instead."
        )
    if bic:
        try:
            bic = BIC(bic).compact
        except schwifty_errors.SchwiftyException:
            errors["bic"] = "This is not a valid BIC: 8 or 11 letters and digits, e.g. CHASUS33XXX."
    if not account_number:
        errors["account_number"] = "Enter the account number."
    elif not account_number.isascii() or not account_number.isdigit():
        errors["account_number"] = "Use digits only (spaces and hyphens are ignored)."
    elif not rule.account_min_digits <= len(account_number) <= rule.account_max_digits:
        errors["account_number"] = f"Accounts in {country} have {rule.account_help.lower()}"
    if not routing_number:
        errors["routing_number"] = f"Enter the {rule.routing_label.lower()}: {rule.routing_help}"
    elif not routing_number.isascii() or not re.fullmatch(rule.routing_pattern, routing_number):
        errors["routing_number"] = f"The {rule.routing_label.lower()} is {rule.routing_help}"
    elif rule.aba_checksum and not aba_routing_number_is_valid(routing_number):
        errors["routing_number"] = (
            "This is not a valid ABA routing number: its check digit does not match. "
            "Check for a typo."
        )
    if errors:
        raise BankAccountErrors(errors)
    return BankAccount(account_number=account_number, routing_number=routing_number, bic=bic)
