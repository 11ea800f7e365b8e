import datetime as dt
import json
import math
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, canonical_json


def test_keys_are_sorted_and_there_is_no_whitespace():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        b'{"a":{"c":null,"d":[1,2]},"b":1}'
    )


def test_insertion_order_does_not_change_the_bytes():
    first = {"amount_minor": 1250, "currency": "EUR", "order": "7f1c", "items": [{"b": 1, "a": 2}]}
    second = {"items": [{"a": 2, "b": 1}], "order": "7f1c", "currency": "EUR", "amount_minor": 1250}
    assert canonical_json(first) == canonical_json(second)


def test_golden_document_bytes_are_stable():
    document = {
        "order_id": UUID("7f1c0d52-3c1e-4b8e-9a55-0c2d7e1f9a10"),
        "amount_minor": 1250,
        "currency": "EUR",
        "accepted": True,
        "note": None,
        "buyer": "Zoë",
        "at": dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC),
        "ship_by": dt.date(2025, 3, 8),
        "lines": (["tea", 2], ["pot", 1]),
    }
    assert (
        canonical_json(document)
        == (
            '{"accepted":true,"amount_minor":1250,"at":"2025-03-01T09:30:00Z","buyer":"Zoë",'
            '"currency":"EUR","lines":[["tea",2],["pot",1]],"note":null,'
            '"order_id":"7f1c0d52-3c1e-4b8e-9a55-0c2d7e1f9a10","ship_by":"2025-03-08"}'
        ).encode()
    )


def test_unicode_is_written_as_utf8_not_escaped():
    assert canonical_json({"name": "Köln 東京 😀"}) == '{"name":"Köln 東京 😀"}'.encode()


def test_control_characters_quotes_and_backslashes_are_escaped():
    assert canonical_json(['"\\\n\t\x00\x1f\x7f']) == b'["\\"\\\\\\n\\t\\u0000\\u001f\x7f"]'


def test_bool_stays_bool_and_ints_stay_ints():
    assert canonical_json([True, False, 0, -1, MAX_SAFE_INTEGER]) == (
        b"[true,false,0,-1,9007199254740991]"
    )


def test_key_order_follows_utf16_code_units_like_rfc8785():
    # RFC 8785 section 3.2.3's sorting example.
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6", "</script>"]
    encoded = canonical_json(dict.fromkeys(keys, 0)).decode()
    order = [key for key, _ in json.loads(encoded, object_pairs_hook=list)]
    assert order == ["\r", "1", "</script>", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_aware_datetimes_become_utc_with_z():
    paris = dt.timezone(dt.timedelta(hours=1))
    assert (
        canonical_json(dt.datetime(2025, 1, 31, 13, 0, tzinfo=paris)) == b'"2025-01-31T12:00:00Z"'
    )
    assert canonical_json(dt.datetime(2025, 1, 31, 12, 0, 0, 5, tzinfo=dt.UTC)) == (
        b'"2025-01-31T12:00:00.000005Z"'
    )


@pytest.mark.parametrize(
    "value",
    [1.0, 0.5, float("nan"), float("inf"), -math.inf, [1, 2.5], {"a": {"b": 1e3}}, (0.1,)],
)
def test_floats_are_refused_wherever_they_are(value):
    with pytest.raises(TypeError, match="floats"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.5"),
        b"bytes",
        {1, 2},
        object(),
        dt.datetime(2025, 1, 1),  # naive
        dt.time(12, 0),
        {1: "int key"},
        {("a",): "tuple key"},
        {None: 1},
    ],
)
def test_other_types_are_refused(value):
    with pytest.raises(TypeError):
        canonical_json(value)


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 10**30])
def test_integers_beyond_the_safe_range_are_refused(value):
    with pytest.raises(ValueError, match="integers beyond"):
        canonical_json({"n": value})


def test_lone_surrogates_are_refused():
    with pytest.raises(ValueError, match="surrogates"):
        canonical_json({"s": "\ud800"})


def test_nesting_is_bounded():
    deep: list = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    canonical_json(deep)
    with pytest.raises(ValueError, match="deeper"):
        canonical_json([deep])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@given(json_values)
def test_matches_sorted_compact_json_and_parses_back(value):
    encoded = canonical_json(value)
    # Without characters beyond U+FFFF, UTF-16 order is Python's order.
    assert encoded == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded
