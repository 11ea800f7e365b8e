"""Text rules of the credit transfer file: ISO 20022 length limits and SEPA's character set.

- Identifiers (MsgId, PmtInfId, EndToEndId): Max35Text in SEPA's Latin set, never starting or
  ending with "/" nor containing "//" (the EPC rule); never transliterated: an id that needs
  changing is refused, since the bank and the platform must agree on it byte for byte.
- EUR text (names, remittance) goes by SEPA: Latin letters with accents or ligatures are
  transliterated ("Müller & Søn" -> "Muller + Son"), as the EPC's conversion guidance does; any
  other script or symbol is refused, naming the character, so staff fix the name on the account
  rather than the bank receiving a guess. The length limit applies after transliteration.
- Other currencies: any Unicode text XML can carry; control, format and unassigned characters are
  refused.
Runs of whitespace become one space and the ends are trimmed, everywhere.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidCreditTransfer

MAX_ID_LENGTH = 35  # Max35Text
SEPA_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
# Latin letters NFKD does not decompose, and the punctuation with an obvious SEPA stand-in.
_TRANSLITERATION = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "Ħ": "H",
        "ħ": "h",
        "Ŧ": "T",
        "ŧ": "t",
        "\u0131": "i",  # dotless i
        "\u017f": "s",  # long s
        "&": "+",
        "\u2018": "'",
        "\u2019": "'",
        "\u00b4": "'",
        "`": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)
_NOT_TEXT = frozenset(
    {"Cc", "Cf", "Cs", "Co", "Cn"}
)  # control, format, surrogate, private, unassigned


def _collapse(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidCreditTransfer(
            f"{field} must be text, not {type(value).__name__}", code="invalid_text", field=field
        )
    return " ".join(value.split())


def _check_length(text: str, field: str, max_length: int) -> str:
    if not text:
        raise InvalidCreditTransfer(f"{field} is empty", code="empty_text", field=field)
    if len(text) > max_length:
        raise InvalidCreditTransfer(
            f"{field} is {len(text)} characters; at most {max_length} are allowed",
            code="text_too_long",
            field=field,
        )
    return text


def _refuse_character(character: str, field: str) -> InvalidCreditTransfer:
    name = unicodedata.name(character, f"U+{ord(character):04X}")
    return InvalidCreditTransfer(
        f"{field} contains {character!r} ({name}), which this file cannot carry",
        code="invalid_characters",
        field=field,
        extra={"character": character},
    )


def latin_text(value: object, *, field: str, max_length: int) -> str:
    """`value` in SEPA's Latin set: transliterated where a plain Latin form exists, else refused."""
    collapsed = _collapse(value, field)
    decomposed = unicodedata.normalize("NFKD", collapsed.translate(_TRANSLITERATION))
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    for character in text:
        if character not in SEPA_CHARACTERS:
            raise _refuse_character(character, field)
    return _check_length(text, field, max_length)


def unicode_text(value: object, *, field: str, max_length: int) -> str:
    """`value` as it is, minus characters no bank file should carry."""
    text = _collapse(value, field)
    for character in text:
        if unicodedata.category(character) in _NOT_TEXT:
            raise _refuse_character(character, field)
    return _check_length(text, field, max_length)


def identifier(value: object, *, field: str, max_length: int = MAX_ID_LENGTH) -> str:
    """An id the bank echoes back: SEPA characters, no spaces, no leading, trailing or double "/"."""
    if not isinstance(value, str):
        raise InvalidCreditTransfer(
            f"{field} must be text, not {type(value).__name__}", code="invalid_id", field=field
        )
    if not value:
        raise InvalidCreditTransfer(f"{field} is empty", code="invalid_id", field=field)
    if len(value) > max_length:
        raise InvalidCreditTransfer(
            f"{field} {value[:40]!r}... is {len(value)} characters; at most {max_length}",
            code="id_too_long",
            field=field,
        )
    for character in value:
        if character not in SEPA_CHARACTERS or character == " ":
            raise InvalidCreditTransfer(
                f"{field} {value!r} contains {character!r}; ids use A-Z a-z 0-9 / - ? : ( ) . , ' +",
                code="invalid_id",
                field=field,
            )
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise InvalidCreditTransfer(
            f"{field} {value!r} starts or ends with '/' or contains '//'",
            code="invalid_id",
            field=field,
        )
    return value
