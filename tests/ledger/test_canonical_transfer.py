"""The fast renderer of a transfer's canonical bytes is canonical_json of the spec object."""

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.canonical import MAX_SAFE_INTEGER, canonical_json
from ledger.canonical_transfer import canonical_dict, canonical_values

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
aware_times = st.datetimes(
    min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=st.timezones()
)
json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
rows = st.tuples(
    st.uuids(),
    st.text(max_size=16),
    safe_ints,
    safe_ints,
    safe_ints,
    st.text(max_size=3),
    st.none() | st.uuids(),
    st.none() | aware_times,
    st.none() | st.uuids(),
    st.text(max_size=64),
    st.text(max_size=128),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    aware_times,
)


@settings(max_examples=400, deadline=None)
@given(rows)
def test_rendered_bytes_equal_canonical_json_of_the_spec(row):
    assert canonical_values(row) == canonical_json(canonical_dict(row))


def example(**changes):
    row = {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "kind": "posted",
        "debit_account_id": 1,
        "credit_account_id": 2,
        "amount_minor": 100,
        "currency": "EUR",
        "pending_id": None,
        "timeout_at": None,
        "batch_id": None,
        "reason": 'quote " backslash \\ tab \t nul \x00 é 😀',
        "reference": "",
        "metadata": {},
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    }
    row.update(changes)
    return tuple(row.values())


def test_a_known_transfer_renders_to_known_bytes():
    assert (
        canonical_values(example())
        == (
            '{"amount_minor":100,"batch_id":null,"created_at":"2026-01-02T03:04:05.000000Z",'
            '"credit_account_id":2,"currency":"EUR","debit_account_id":1,'
            '"id":"00000000-0000-4000-8000-000000000001","kind":"posted","metadata":{},'
            '"pending_id":null,"reason":"quote \\" backslash \\\\ tab \\t nul \\u0000 é 😀",'
            '"reference":"","timeout_at":null,"v":1}'
        ).encode()
    )
    assert canonical_values(example()) == canonical_json(canonical_dict(example()))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount_minor": MAX_SAFE_INTEGER + 1}, ValueError),
        ({"metadata": {"n": -(2**60)}}, ValueError),
        ({"metadata": {"x": 1.5}}, TypeError),
        ({"reason": "lone \ud800 surrogate"}, ValueError),
        ({"created_at": dt.datetime(2026, 1, 1)}, ValueError),
    ],
)
def test_what_canonical_json_refuses_is_refused(changes, error):
    with pytest.raises(error):
        canonical_values(example(**changes))
