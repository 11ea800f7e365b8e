import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import Money, allocate, currency_exponent, fee_from_bps, split_fee

# --- currency_exponent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("usd", 2),
    ],
)
def test_currency_exponent_comes_from_cldr_data(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XYZ", "US", "USDD", "", "U$D", "123"])
def test_unknown_currency_codes_are_refused(code):
    with pytest.raises(ValueError, match="unknown currency code"):
        currency_exponent(code)


@pytest.mark.parametrize("code", [None, 840, b"USD"])
def test_non_string_currency_codes_are_type_errors(code):
    with pytest.raises(TypeError):
        currency_exponent(code)


# --- Money construction and arithmetic -----------------------------------------------------------


def test_money_stores_an_int_and_an_uppercase_code():
    money = Money(1250, "eur")
    assert (money.amount_minor, money.currency) == (1250, "EUR")
    assert money == Money(1250, "EUR")
    assert hash(money) == hash(Money(1250, "EUR"))


@pytest.mark.parametrize(
    "amount", [12.5, 12.0, float("nan"), True, False, Decimal("12"), "12", None]
)
def test_non_int_amounts_are_type_errors(amount):
    with pytest.raises(TypeError):
        Money(amount, "USD")


def test_unknown_currency_is_refused():
    with pytest.raises(ValueError):
        Money(1, "XYZ")


def test_money_is_immutable():
    money = Money(1, "USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount_minor = 2


def test_arithmetic_in_one_currency():
    a, b = Money(1050, "USD"), Money(250, "USD")
    assert a + b == Money(1300, "USD")
    assert a - b == Money(800, "USD")
    assert b - a == Money(-800, "USD")
    assert -a == Money(-1050, "USD")
    assert abs(Money(-5, "USD")) == Money(5, "USD")
    assert a * 3 == Money(3150, "USD")
    assert 3 * a == Money(3150, "USD")
    assert Money.zero("JPY") == Money(0, "JPY")


def test_comparison_in_one_currency():
    small, large = Money(1, "USD"), Money(2, "USD")
    assert small < large and small <= large and large > small and large >= small
    assert small <= Money(1, "USD") and small >= Money(1, "USD")
    assert sorted([large, small]) == [small, large]
    assert max(small, large) == large


def test_money_in_different_currencies_is_never_equal():
    assert Money(100, "USD") != Money(100, "EUR")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_mixing_currencies_is_refused_with_a_clear_message(operation):
    with pytest.raises(ValueError, match="USD and EUR: currencies differ"):
        operation(Money(100, "USD"), Money(100, "EUR"))


@pytest.mark.parametrize("factor", [1.5, 2.0, Decimal("2"), True, "2"])
def test_multiplication_is_by_int_only(factor):
    with pytest.raises(TypeError):
        Money(100, "USD") * factor
    with pytest.raises(TypeError):
        factor * Money(100, "USD")


@pytest.mark.parametrize("other", [1, 1.0, Decimal("1"), None])
def test_money_does_not_mix_with_plain_numbers(other):
    with pytest.raises(TypeError):
        Money(100, "USD") + other
    with pytest.raises(TypeError):
        _ = Money(100, "USD") < other


# --- parse and format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "locale", "minor"),
    [
        ("1,234.56", "USD", "en", 123456),
        ("1234.56", "USD", "en", 123456),
        ("1.234,56", "EUR", "de", 123456),
        ("1234,5", "EUR", "de", 123450),
        ("0.05", "USD", "en", 5),
        ("-12.50", "USD", "en", -1250),
        ("12", "USD", "en", 1200),
        (" 12.5 ", "USD", "en", 1250),
        ("1,235", "JPY", "en", 1235),
        ("1.235", "JPY", "de", 1235),
        ("1.234", "KWD", "en", 1234),
        ("0.001", "KWD", "en", 1),
        ("12345678901234567890.12", "USD", "en", 1234567890123456789012),
    ],
)
def test_parse_reads_the_locale_format(text, currency, locale, minor):
    assert Money.parse(text, currency, locale) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("1.234", "USD", "en"),
        ("0.001", "USD", "en"),
        ("1,234", "EUR", "de"),
        ("1.5", "JPY", "en"),
        ("5.0", "JPY", "en"),
        ("1.00", "JPY", "en"),
        ("0.0001", "KWD", "en"),
    ],
)
def test_parse_refuses_more_decimals_than_the_currency_has(text, currency, locale):
    with pytest.raises(ValueError, match="decimals"):
        Money.parse(text, currency, locale)


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("", "USD", "en"),
        ("abc", "USD", "en"),
        ("1,23", "USD", "en"),  # strict grouping: not silently 123
        ("1e3", "USD", "en"),
        ("1E-2", "USD", "en"),
        ("NaN", "USD", "en"),
        ("Infinity", "USD", "en"),
        ("$12.00", "USD", "en"),
        ("1" * 65, "USD", "en"),
        ("12", "XYZ", "en"),
        ("12", "USD", "xx_ZZ"),
        ("12", "USD", "not a locale"),
    ],
)
def test_parse_refuses_malformed_input(text, currency, locale):
    with pytest.raises(ValueError):
        Money.parse(text, currency, locale)


def test_parse_refuses_non_text():
    with pytest.raises(TypeError):
        Money.parse(12.5, "USD")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(123456, "USD"), "en", "$1,234.56"),
        (Money(123456, "EUR"), "de", "1.234,56\xa0€"),
        (Money(123456, "EUR"), "en", "€1,234.56"),
        (Money(1235, "JPY"), "en", "¥1,235"),
        (Money(1234, "KWD"), "en", "KWD1.234"),
        (Money(5, "USD"), "en", "$0.05"),
        (Money(-5, "USD"), "en", "-$0.05"),
        (Money(100, "USD"), "en", "$1.00"),
    ],
)
def test_format_uses_the_currency_decimals_and_locale(money, locale, text):
    assert money.format(locale) == text


def test_format_refuses_unknown_locales():
    with pytest.raises(ValueError):
        Money(1, "USD").format("xx_ZZ")


def test_str_and_to_decimal_are_exact():
    assert str(Money(123456, "USD")) == "1234.56 USD"
    assert str(Money(5, "KWD")) == "0.005 KWD"
    assert str(Money(7, "JPY")) == "7 JPY"
    assert Money(-1, "USD").to_decimal() == Decimal("-0.01")


@given(
    amount=st.integers(min_value=-(10**18), max_value=10**18),
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR"]),
)
def test_parse_reads_back_the_exact_decimal(amount, currency):
    money = Money(amount, currency)
    assert Money.parse(str(money.to_decimal()), currency, "en") == money


# --- allocate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "ratios", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),  # ties go to the earliest index
        (-100, [1, 1, 1], [-34, -33, -33]),
        (10, [1, 2], [3, 7]),  # 3.33 / 6.67: the larger remainder gets the unit
        (7, [1, 1, 1, 1], [2, 2, 2, 1]),
        (5, [0, 1, 1], [0, 3, 2]),
        (0, [3, 7], [0, 0]),
        (1, [1, 1], [1, 0]),
        (1000, [7000, 2000, 1000], [700, 200, 100]),
        (1, [0, 0, 5], [0, 0, 1]),
        (99, [1], [99]),
    ],
)
def test_allocate_worked_examples(total, ratios, parts):
    assert allocate(total, ratios) == parts


@pytest.mark.parametrize(
    ("total", "ratios", "error"),
    [
        (100, [], ValueError),
        (100, [0, 0], ValueError),
        (100, [1, -1, 2], ValueError),
        (100, [1.5, 1], TypeError),
        (100, [True, 1], TypeError),
        (100.0, [1, 1], TypeError),
        (True, [1, 1], TypeError),
        (100, None, ValueError),
        (100, [1] * 10_001, ValueError),
    ],
)
def test_allocate_refuses_bad_input(total, ratios, error):
    with pytest.raises(error):
        allocate(total, ratios)


ratio_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
    lambda ratios: sum(ratios) > 0
)
totals = st.integers(min_value=-(10**15), max_value=10**15)


@given(total=totals, ratios=ratio_lists)
def test_allocate_sums_exactly_and_each_part_is_within_one_of_its_share(total, ratios):
    parts = allocate(total, ratios)

    assert len(parts) == len(ratios)
    assert sum(parts) == total
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(total * ratio, sum(ratios))
        assert abs(part - exact) < 1
        if ratio == 0:
            assert part == 0


@given(total=totals, ratios=ratio_lists)
def test_allocate_is_symmetric_for_negative_totals(total, ratios):
    assert allocate(-total, ratios) == [-part for part in allocate(total, ratios)]


@given(total=st.integers(min_value=0, max_value=10**12), ratios=ratio_lists)
def test_allocate_gives_the_leftover_to_the_largest_remainders(total, ratios):
    parts = allocate(total, ratios)
    remainders = [Fraction(total * ratio, sum(ratios)) % 1 for ratio in ratios]
    rounded_up = [
        i for i, part in enumerate(parts) if part > Fraction(total * ratios[i], sum(ratios))
    ]
    kept_down = [i for i in range(len(parts)) if i not in rounded_up]
    for up in rounded_up:
        for down in kept_down:
            assert (remainders[up], -up) > (remainders[down], -down)


# --- fees ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [
        (1005, 250, 25),  # 25.125 -> 25
        (1020, 250, 26),  # 25.5 tie -> 26 (half-up)
        (1060, 250, 27),  # 26.5 tie -> 27 (half-up, not half-even)
        (1019, 250, 25),  # 25.475 -> 25
        (1021, 250, 26),  # 25.525 -> 26
        (100, 50, 1),  # 0.5 tie -> 1
        (99, 50, 0),  # 0.495 -> 0
        (1, 4999, 0),  # 0.4999 -> 0
        (1, 5000, 1),  # 0.5 tie -> 1
        (-1020, 250, -26),  # ties away from zero for refunds too
        (-1005, 250, -25),
        (123456, 0, 0),
        (123456, 10_000, 123456),
        (0, 290, 0),
        (10_000, 290, 290),
    ],
)
def test_fee_from_bps_rounds_half_up(amount, bps, fee):
    assert fee_from_bps(amount, bps) == fee


@pytest.mark.parametrize(
    ("amount", "bps", "error"),
    [
        (100, -1, ValueError),
        (100, 10_001, ValueError),
        (100, 2.5, TypeError),
        (100, True, TypeError),
        (100.0, 250, TypeError),
        (Decimal(100), 250, TypeError),
    ],
)
def test_fee_from_bps_refuses_bad_input(amount, bps, error):
    with pytest.raises(error):
        fee_from_bps(amount, bps)


def test_split_fee_worked_example():
    assert split_fee(1005, 250) == (980, 25)
    assert split_fee(-1020, 250) == (-994, -26)


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    bps=st.integers(min_value=0, max_value=10_000),
)
def test_fee_is_the_half_up_rounding_of_the_exact_fee(amount, bps):
    fee = fee_from_bps(amount, bps)
    exact = Fraction(amount * bps, 10_000)

    assert abs(fee - exact) <= Fraction(1, 2)
    if abs(fee - exact) == Fraction(1, 2):
        assert abs(fee) > abs(exact)  # a tie goes away from zero
    assert abs(fee) <= abs(amount)
    assert fee_from_bps(-amount, bps) == -fee
    net, split = split_fee(amount, bps)
    assert (net + split, split) == (amount, fee)


@pytest.mark.parametrize("code", ["XAU", "XAG", "XXX", "XTS", "XDR", "xau"])
def test_codes_with_no_minor_unit_are_not_money(code):
    """One currency rule everywhere: ISO 4217 codes with no minor unit (metals, testing, no
    currency) are refused by Money and by everything that asks for a currency's exponent."""
    with pytest.raises(ValueError, match="no minor unit"):
        currency_exponent(code)
    with pytest.raises(ValueError):
        Money(100, code)


@pytest.mark.parametrize(("code", "exponent"), [("XOF", 0), ("XAF", 0), ("XCD", 2), ("XPF", 0)])
def test_real_currencies_starting_with_x_stay_money(code, exponent):
    assert currency_exponent(code) == exponent
