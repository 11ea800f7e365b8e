"""The one integer rule for input (core.integers): JSON integers only, text as ASCII digits."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from core.integers import json_integer, text_integer


@pytest.mark.parametrize("value", ["1", "0001", " 2", True, False, 1.0, 2.5, 1e3, None, [1], {}])
def test_anything_but_a_json_integer_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        json_integer(value, field="quantity", minimum=1, maximum=10)
    assert (caught.value.code, caught.value.field) == ("invalid", "quantity")


@pytest.mark.parametrize(("value", "message"), [(0, "at least 1"), (11, "at most 10")])
def test_bounds_are_part_of_the_rule(value, message):
    with pytest.raises(ValidationError, match=message):
        json_integer(value, field="quantity", minimum=1, maximum=10)


def test_an_integer_within_bounds_is_itself():
    assert json_integer(7, field="n", minimum=1, maximum=10) == 7
    assert json_integer(-3, field="n", minimum=-5, maximum=5) == -3


@pytest.mark.parametrize(
    "text", ["+5", "1_0", "\u0661\u0662", "1.0", "1e1", "", " ", "0x1", "5 5", None, 5, "-0"]
)
def test_text_is_ascii_digits_only(text):
    with pytest.raises(ValidationError) as caught:
        text_integer(text, field="limit", minimum=0, maximum=200)
    assert caught.value.field == "limit"


def test_text_within_bounds_is_its_number_and_a_minus_only_where_negatives_are_allowed():
    assert text_integer("12", field="limit", minimum=1, maximum=200) == 12
    assert text_integer("-3", field="change", minimum=-10, maximum=10) == -3
    with pytest.raises(ValidationError):
        text_integer("201", field="limit", minimum=1, maximum=200)
