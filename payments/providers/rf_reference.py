"""ISO 11649 structured creditor references ("RF" references) for bank transfers.

An RF reference is "RF", two check digits, then 1-21 letters or digits. The check digits follow the
IBAN rule (ISO 7064 MOD 97-10): move "RF" + check digits to the end, turn letters into numbers
(A=10 ... Z=35), and the result modulo 97 must be 1. schwifty (our IBAN library) has no RF support,
so the arithmetic is here; tests use the standard's own examples.
"""

from __future__ import annotations

import re
import secrets

_BODY_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: read aloud and typed by people
_FORMAT = re.compile(r"^RF(\d{2})([0-9A-Z]{1,21})$")


def _numeric(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text))


def normalize(reference: str) -> str:
    """Upper case without the spaces people type in groups of four."""
    return re.sub(r"\s+", "", reference or "").upper()


def check_digits(body: str) -> str:
    return f"{98 - _numeric(body + 'RF00') % 97:02d}"


def is_valid(reference: str) -> bool:
    text = normalize(reference)
    match = _FORMAT.match(text)
    if not match:
        return False
    return _numeric(match.group(2) + "RF" + match.group(1)) % 97 == 1


def generate(*, length: int = 16) -> str:
    """A new random reference: RF + check digits + `length` characters (at most 21)."""
    assert 1 <= length <= 21
    body = "".join(secrets.choice(_BODY_ALPHABET) for _ in range(length))
    reference = f"RF{check_digits(body)}{body}"
    assert is_valid(reference)
    return reference


def grouped(reference: str) -> str:
    """'RF18 5390 0754 7034': how it is printed for people."""
    text = normalize(reference)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
