"""Checks on what the bank is asked: IBANs (schwifty), US routing and account numbers, BICs, RF
references, ids, names.

Every refusal is a BadRequest naming the field, answered 422 before anything is written.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from .errors import BadRequest
from .money import MAX_AMOUNT_MINOR, is_currency

# An id that fits ISO 20022's Max35Text in the SEPA character set and is safe in a URL path and
# a header as it is: it becomes the end-to-end id of the transfer and its idempotency key.
_TRANSFER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,34}$")
_RF = re.compile(r"^RF(\d{2})([0-9A-Z]{1,21})$")
MAX_NAME_CHARS = 70  # ISO 20022 Max70Text (SEPA: the creditor's name)
MAX_REMITTANCE_CHARS = 140  # Max140Text: one unstructured remittance line
# Legal forms that a payer may leave out of a name without it being another party.
_LEGAL_FORMS = frozenset({"ltd", "llc", "inc", "gmbh", "ag", "sa", "sarl", "bv", "nv", "plc", "oy"})


def iban(value: Any, *, field: str = "iban") -> str:
    """The IBAN in compact upper-case form; BadRequest unless schwifty accepts its country, length,
    national structure and check digits."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("Enter an IBAN.", code="invalid_iban", field=field)
    if len(value) > 64:
        raise BadRequest("That is not an IBAN.", code="invalid_iban", field=field)
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise BadRequest(f"Not a valid IBAN: {exc}.", code="invalid_iban", field=field) from None


def bic(value: Any, *, field: str = "bic") -> str:
    """'' for no BIC; otherwise the BIC in compact form, checked by schwifty."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 16:
        raise BadRequest("That is not a BIC.", code="invalid_bic", field=field)
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        raise BadRequest(f"Not a valid BIC: {exc}.", code="invalid_bic", field=field) from None


def aba_routing_number(value: Any, *, field: str = "routing_number") -> str:
    """A US ABA routing transit number: 9 digits (spaces and hyphens ignored), a Federal Reserve
    prefix and the 3-7-1 check digit. The bank checks what it is given on its own, as a real
    bank would (the platform's check is accounts/banking.py)."""
    digits = re.sub(r"[\s-]+", "", value) if isinstance(value, str) else ""
    valid = bool(re.fullmatch(r"[0-9]{9}", digits))
    if valid:
        prefix = int(digits[:2])
        valid = prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80
    if valid:
        weights = (3, 7, 1) * 3
        valid = (
            sum(int(char) * weight for char, weight in zip(digits, weights, strict=True)) % 10 == 0
        )
    if not valid:
        raise BadRequest(
            "Not a valid ABA routing number (9 digits with a check digit).",
            code="invalid_routing_number",
            field=field,
        )
    return digits


def us_account_number(value: Any, *, field: str = "account_number") -> str:
    """A US bank account number: 4 to 17 digits (spaces and hyphens ignored)."""
    digits = re.sub(r"[\s-]+", "", value) if isinstance(value, str) else ""
    if not re.fullmatch(r"[0-9]{4,17}", digits):
        raise BadRequest(
            "A US account number is 4 to 17 digits.", code="invalid_account_number", field=field
        )
    return digits


def transfer_id(value: Any, *, field: str = "payout_id") -> str:
    if not isinstance(value, str) or not _TRANSFER_ID.match(value):
        raise BadRequest(
            "The payout id must be 1 to 35 letters, digits, '.' or '-' (an ISO 20022 end-to-end "
            "id), starting with a letter or digit.",
            code="invalid_payout_id",
            field=field,
        )
    return value


def amount(value: Any, *, field: str = "amount_minor") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT_MINOR:
        raise BadRequest(
            f"The amount is a whole number of minor units from 1 to {MAX_AMOUNT_MINOR}.",
            code="invalid_amount",
            field=field,
        )
    return value


def currency(value: Any, *, field: str = "currency") -> str:
    if not is_currency(value):
        raise BadRequest("Use an ISO 4217 currency code.", code="invalid_currency", field=field)
    return value


def text(value: Any, *, field: str, max_chars: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_chars:
        raise BadRequest(
            f"{field} must be text of at most {max_chars} characters"
            + (" and not empty." if required else "."),
            code="invalid",
            field=field,
        )
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise BadRequest(f"{field} holds control characters.", code="invalid", field=field)
    return value.strip()


def rf_reference(value: Any, *, field: str = "reference") -> str:
    """An ISO 11649 creditor reference ('RF18 5390 0754 7034' typed with or without spaces)."""
    normalised = re.sub(r"\s+", "", value).upper() if isinstance(value, str) else ""
    match = _RF.match(normalised)
    if not match or _mod97(match.group(2) + "RF" + match.group(1)) != 1:
        raise BadRequest(
            "Not an RF creditor reference (ISO 11649).", code="invalid_reference", field=field
        )
    return normalised


def _mod97(text_value: str) -> int:
    return int("".join(str(int(char, 36)) for char in text_value)) % 97


def name_key(name: str) -> frozenset[str]:
    """What two holder names must share to be the same party: their words, case, accents,
    punctuation, order and a legal form ignored ('Müller GmbH, Anna' == 'anna muller')."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    words = re.findall(r"[0-9a-z]+", plain)
    return frozenset(word for word in words if word not in _LEGAL_FORMS)


def names_match(given: str, holder: str) -> bool:
    given_key = name_key(given)
    return bool(given_key) and given_key == name_key(holder)
