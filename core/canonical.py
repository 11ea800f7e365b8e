"""Canonical JSON: the exact bytes that get signed, hashed and sealed.

    canonical_json(obj) -> bytes

Rules (the output is also valid RFC 8785 "JCS" output for the values accepted here, so a
verifier in any language with a JCS library gets the same bytes):

- UTF-8, no insignificant whitespace (separators "," and ":"), non-ASCII written as is
  (ensure_ascii=False); control characters, '"' and '\\' escaped as JSON requires.
- Object keys sorted by UTF-16 code units (JCS order; the same as Python's sort for any key
  without characters beyond U+FFFF). Keys must be str: an int key would silently become a string.
- Accepted values: dict (str keys), list and tuple, str, int, bool, None. Also, for convenience:
  UUID -> its canonical string; aware datetime -> ISO 8601 in UTC ending in "Z"
  (e.g. "2025-01-31T12:00:00Z", microseconds only when non-zero); date -> "YYYY-MM-DD".
- Refused with TypeError: float (NaN and infinities included), Decimal, naive datetime, bytes,
  sets and any other type: amounts are integers in minor units, never floats.
- Refused with ValueError: ints beyond +/-(2**53 - 1) (JavaScript and JCS cannot represent them
  exactly), strings with lone surrogates (not encodable as UTF-8), nesting deeper than 64.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=False
)


def canonical_json(obj: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of `obj` (see the module docstring for the rules)."""
    text = _ENCODER.encode(_normalise(obj, 0))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("canonical JSON refuses strings with lone surrogates") from None


def _utf16_order(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _normalise(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"canonical JSON refuses nesting deeper than {MAX_DEPTH}")
    # bool before int: bool is an int subclass but must stay true/false.
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"canonical JSON refuses integers beyond +/-{MAX_SAFE_INTEGER}")
        return int(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be str, not {type(key).__name__}")
        return {key: _normalise(value[key], depth + 1) for key in sorted(value, key=_utf16_order)}
    if isinstance(value, list | tuple):
        return [_normalise(item, depth + 1) for item in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("canonical JSON refuses naive datetimes: make them aware first")
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        raise TypeError("canonical JSON refuses floats: use int minor units or a str")
    raise TypeError(f"canonical JSON cannot encode {type(value).__name__}")
