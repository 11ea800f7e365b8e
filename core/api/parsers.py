"""The API's body parsers: what they let through every view can store and trust.

Refused with 400 in the one error shape, before any view runs (so nothing is written):
- a top level that is not an object (every write endpoint takes an object);
- nesting deeper than MAX_DEPTH (a 10,000-deep body made json.loads raise RecursionError: a 500);
- a body over MAX_BODY_BYTES;
- an object with the same key twice (json.loads keeps the last one silently: a card object with
  two "number" keys would charge the second);
- a NUL character or an unpaired surrogate in any key or string (PostgreSQL refuses both in text
  and jsonb columns: a 500 deep inside a view);
- NaN and Infinity (not JSON; a float that no money field may hold).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser

from core.errors import ValidationError

MAX_DEPTH = 32
MAX_BODY_BYTES = 1_000_000
# A string PostgreSQL cannot store: NUL, or a surrogate code point on its own (JSON's "\ud800"
# escapes decode to one; a proper pair decodes to a single astral character instead).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The characters that open or close a level, and those that start or escape a string.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class InvalidBody(ValidationError):
    """The request body is not JSON this API accepts."""

    code = "parse_error"  # the code DRF gave malformed JSON, documented in the API description


def _check_depth(body: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH without parsing (so without recursion)."""
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(body):
        char, at = match.group(), match.start()
        if in_string:
            if char == b"\\" and escaped_at != at:
                escaped_at = at + 1  # the next character is escaped
            elif char == b'"' and escaped_at != at:
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidBody(f"The JSON body is nested deeper than {MAX_DEPTH} levels.")
        elif char in b"]}":
            depth -= 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidBody(f'The key "{key}" appears twice in one object.', field=key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> None:
    raise InvalidBody(f"{name} is not a JSON number.")


def _check_strings(value: Any, path: str | None = None) -> None:
    """Every key and string storable; `path` names the field at fault ("metadata.note")."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise InvalidBody(
                "Text may not contain NUL characters or unpaired surrogates.", field=path
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = key if path is None else f"{path}.{key}"
            if _UNSTORABLE.search(key):
                raise InvalidBody(
                    "Keys may not contain NUL characters or unpaired surrogates.", field=path
                )
            _check_strings(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]" if path else f"[{index}]")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or InvalidBody saying what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidBody(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    _check_depth(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("The request body is not UTF-8.") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidBody(f"The request body is not valid JSON ({exc.msg}).") from None
    if not isinstance(data, dict):
        raise InvalidBody("The request body must be a JSON object.")
    _check_strings(data)
    return data


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> dict[str, Any]:
        limit = min(MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY_BYTES)
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise InvalidBody(f"The request body is larger than {limit} bytes.")
        return parse_json_object(body)


def check_query_dict(data) -> None:
    """Refuse a QueryDict (form body, query string) holding text PostgreSQL cannot store."""
    for key, values in data.lists():
        if _UNSTORABLE.search(key):
            raise InvalidBody("Names may not contain NUL characters.", field=None)
        for value in values:
            if isinstance(value, str) and _UNSTORABLE.search(value):
                raise InvalidBody("Text may not contain NUL characters.", field=key)


class StrictFormParser(FormParser):
    """Form bodies (the browsable API, curl -d) under the same string rule as JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        check_query_dict(data)
        return data


class StrictMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        check_query_dict(parsed.data)
        return parsed
