"""ISO 20022 amount text <-> integer minor units, with the currency's exponent (JPY 0, KWD 3)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.iso20022.amounts import AmountError, parse_amount, render_amount


@pytest.mark.parametrize(
    ("amount_minor", "currency", "text"),
    [
        (123456, "EUR", "1234.56"),
        (5, "EUR", "0.05"),
        (100, "USD", "1.00"),
        (1000, "JPY", "1000"),
        (7, "JPY", "7"),
        (1234, "KWD", "1.234"),
        (5, "KWD", "0.005"),
        (1000, "BHD", "1.000"),
        (12345, "CLF", "1.2345"),
        (0, "EUR", "0.00"),
        (10**17, "JPY", str(10**17)),
    ],
)
def test_minor_units_render_with_the_currency_decimals_and_parse_back(amount_minor, currency, text):
    assert render_amount(amount_minor, currency) == text
    assert parse_amount(text, currency) == amount_minor


@pytest.mark.parametrize(
    ("text", "currency", "amount_minor"),
    [
        ("12.3", "EUR", 1230),  # fewer decimals than the currency has: exact, no rounding needed
        ("12", "EUR", 1200),
        ("  12.30\n", "EUR", 1230),  # XML whitespace around the number
        ("0001.5", "KWD", 1500),
        ("150000", "JPY", 150000),
    ],
)
def test_plain_decimals_with_fewer_decimals_parse_exactly(text, currency, amount_minor):
    assert parse_amount(text, currency) == amount_minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("150000.0", "JPY"),  # even a zero decimal: JPY has none
        ("1.2345", "KWD"),
        ("1.001", "EUR"),
        ("0.005", "EUR"),
    ],
)
def test_more_decimals_than_the_currency_has_is_an_error_not_rounded(text, currency):
    with pytest.raises(AmountError, match="not rounded"):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "-1.00",
        "+1.00",
        "1e3",
        "1E3",
        "1,00",
        "1.000,00",
        ".5",
        "5.",
        "NaN",
        "Infinity",
        "1 000",
        "٣",
    ],
)
def test_anything_but_a_plain_non_negative_decimal_is_refused(text):
    with pytest.raises(AmountError):
        parse_amount(text, "EUR")


def test_more_than_eighteen_digits_is_refused_both_ways():
    with pytest.raises(AmountError, match="18 digits"):
        parse_amount("1234567890123456789", "JPY")
    with pytest.raises(AmountError, match="18 digits"):
        render_amount(10**18, "JPY")


def test_a_long_run_of_leading_zeros_is_refused_before_any_digit_is_counted():
    with pytest.raises(AmountError, match="at most 64 characters"):
        parse_amount("0" * 100_000 + "1", "EUR")


@pytest.mark.parametrize("currency", ["XAU", "XXX", "ABC", "", "eu"])
def test_currencies_without_minor_unit_or_unknown_are_refused(currency):
    with pytest.raises(AmountError):
        parse_amount("1", currency)
    with pytest.raises(AmountError):
        render_amount(1, currency)


@pytest.mark.parametrize("amount_minor", [1.5, True, "100", None])
def test_only_integer_minor_units_render(amount_minor):
    with pytest.raises(AmountError):
        render_amount(amount_minor, "EUR")


@given(
    st.integers(min_value=0, max_value=10**15),
    st.sampled_from(["EUR", "USD", "JPY", "KRW", "KWD", "BHD", "TND", "CLF", "UYW"]),
)
def test_every_amount_round_trips_exactly(amount_minor, currency):
    assert parse_amount(render_amount(amount_minor, currency), currency) == amount_minor
