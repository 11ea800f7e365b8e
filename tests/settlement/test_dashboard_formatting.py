"""Money on the seller's pages: formatted and parsed in the seller's locale (babel, core.money),
and the server-drawn chart's geometry."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from accounts.money_format import format_money, parse_amount, parse_typed_amount, seller_locale
from settlement.dashboard.charts import HEIGHT, LABEL_BAND, day_chart
from settlement.dashboard.selectors import CurrencySeries, DayTotal


@pytest.mark.parametrize(
    ("country", "locale"),
    [("DE", "de_DE"), ("US", "en_US"), ("JP", "ja_JP"), ("ch", "de_CH"), ("", "en"), ("XX", "en")],
)
def test_the_sellers_locale_comes_from_the_profiles_country(country, locale):
    assert seller_locale(SimpleNamespace(country=country)) == locale
    assert seller_locale(None) == "en"


def test_money_always_carries_its_currency_and_its_own_decimals():
    assert format_money(123_456, "EUR", "de_DE") == "1.234,56\xa0€"
    assert format_money(123_456, "EUR", "en_US") == "€1,234.56"
    assert format_money(-500, "EUR", "de_DE") == "-5,00\xa0€"
    assert format_money(1_235, "JPY", "en_US") == "¥1,235"
    assert format_money(1_234, "KWD", "en_US") == "KWD1.234"


@pytest.mark.parametrize(
    ("text", "currency", "locale", "minor"),
    [
        ("1.234,56", "EUR", "de_DE", 123_456),
        ("94,99", "EUR", "de_DE", 9_499),
        ("95.01", "EUR", "de_DE", 9_501),  # plain digits with a dot read anywhere
        ("1,234.50", "EUR", "en_US", 123_450),
        (" 12 ", "JPY", "ja_JP", 12),
    ],
)
def test_amounts_are_read_the_sellers_way_or_plainly(text, currency, locale, minor):
    assert parse_amount(text, currency, locale) == minor


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("1,234", "EUR", "de_DE"),  # 1.234 to a German: three decimals, not 1234
        ("5.5", "JPY", "de_DE"),
        ("abc", "EUR", "en_US"),
        ("1e3", "EUR", "en_US"),
        ("1.234,50", "EUR", "en_US"),
    ],
)
def test_amounts_that_are_not_amounts_in_the_currency_are_refused(text, currency, locale):
    with pytest.raises(ValueError):
        parse_amount(text, currency, locale)


def test_the_chart_scales_sales_up_and_refunds_down_from_one_axis():
    today = dt.date(2026, 12, 7)
    days = [
        DayTotal(today - dt.timedelta(days=2), sales_minor=3_000, sales_count=2, fees_minor=90),
        DayTotal(today - dt.timedelta(days=1)),
        DayTotal(today, sales_minor=1_500, sales_count=1, refunds_minor=1_000, refunds_count=1),
    ]
    chart = day_chart(CurrencySeries("EUR", days), money=lambda minor, ccy: f"{minor} {ccy}")
    tallest, empty, last = chart.sales
    assert empty.height == 0
    assert tallest.height == 2 * last.height  # 3,000 against 1,500
    assert tallest.y + tallest.height == chart.baseline_y  # standing on the axis
    (refund,) = [bar for bar in chart.refunds if bar.height]
    assert refund.y == chart.baseline_y and refund.y + refund.height <= HEIGHT - LABEL_BAND
    assert "07 Dec 2026: sales 1500 EUR (1)" in last.title
    assert chart.summary == "EUR over 3 days: sales 4500 EUR (3), fees 90 EUR, refunds 1000 EUR"


@pytest.mark.parametrize(
    ("text", "locale", "currency", "minor"),
    [
        ("12,50", "de_DE", "EUR", 1250),
        ("12.50", "de_DE", "EUR", 1250),  # a dot is a decimal point everywhere
        ("12.50", "en_US", "USD", 1250),
        ("1250", "de_DE", "JPY", 1250),
        ("0,005", "de_DE", "KWD", 5),
    ],
)
def test_a_typed_amount_reads_one_decimal_separator(text, locale, currency, minor):
    assert parse_typed_amount(text, currency, locale) == minor


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("1.250", "de_DE"),  # 1,250 by German grouping, 1.25 by a dot: refused, not guessed
        ("1.234,50", "de_DE"),  # no thousands separator where money moves
        ("1,250.00", "en_US"),
        ("12,505", "de_DE"),  # three decimals for EUR
        ("12,50", "en_US"),  # a comma is no decimal point in English
        ("1e3", "de_DE"),
        ("", "de_DE"),
    ],
)
def test_a_typed_amount_that_could_be_misread_is_refused(text, locale):
    with pytest.raises(ValueError):
        parse_typed_amount(text, "EUR", locale)


def test_a_dot_before_three_digits_is_refused_where_the_comma_is_the_decimal_mark():
    # KWD has three decimals: "1.250" would be 1.25 read plainly, 1250 read the German way.
    with pytest.raises(ValueError, match="thousands separator"):
        parse_typed_amount("1.250", "KWD", "de_DE")
    assert parse_typed_amount("1.250", "KWD", "en_US") == 1250  # 1.250 KWD: a dot is the mark
    assert parse_typed_amount("1,250", "KWD", "de_DE") == 1250
