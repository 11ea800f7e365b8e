"""Multi-currency settlement: a seller's sales in another currency are converted into the
settlement currency when the batch is made, at the latest fresh rate less the spread, rounded
half-up to the target's minor unit; every currency still sums to zero; batches' lines sum to their
nets across a conversion; the money waits without a (fresh) rate; a rerun converts nothing twice.
"""

import datetime as dt
import threading
import uuid
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.validation import clean_seller_profile
from ledger import chart
from ledger.models import Transfer
from ledger.selectors import account_balance, trial_balance
from settlement.batches import batch_lines, create_batches
from settlement.fx import convert_for_batches, convert_minor, round_half_up
from settlement.fx_rates import latest_rate
from settlement.maturation import mature_due
from settlement.models import FxConversion, FxRate, SettlementBatch
from settlement.payouts import services
from tests.accounts.factories import SellerFactory
from tests.settlement.factories import released
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import MONDAY, PLANS, refund_from_available, sale

pytestmark = pytest.mark.django_db


def add_rate(base, quote, rate, *, hours_ago=1, as_of=None, source="test"):
    return FxRate.objects.create(
        base=base,
        quote=quote,
        rate=Decimal(rate),
        as_of=as_of or timezone.now() - dt.timedelta(hours=hours_ago),
        source=source,
    )


def balance(code, currency):
    return account_balance(chart.account(currency=currency, code=code)).credit_balance


def available(seller, currency):
    return balance(chart.seller_available(seller.pk), currency)


def assert_every_currency_sums_to_zero():
    for currency, totals in trial_balance().items():
        assert (currency, totals.net_posted, totals.net_pending) == (currency, 0, 0)


def assert_lines_sum_to_net(batch):
    lines = batch_lines(batch)
    assert len(lines) == batch.line_count
    assert sum(line.amount_minor for line in lines) == batch.net_minor


def usd_seller(**profile):
    return SellerFactory(profile__settlement_currency="USD", **profile)


# --- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Fraction(5, 2), 3),
        (Fraction(-5, 2), -3),
        (Fraction(249, 100), 2),
        (Fraction(251, 100), 3),
        (Fraction(0), 0),
        (Fraction(7), 7),
    ],
)
def test_half_up_rounds_ties_away_from_zero(value, rounded):
    assert round_half_up(value) == rounded


@pytest.mark.parametrize(
    ("amount", "source", "target", "rate", "bps", "gross", "spread", "seller"),
    [
        # 123.45 EUR at 1.085 = 133.94325 USD; less 0.5 %: 133.27353375.
        (12_345, "EUR", "USD", "1.085", 50, 13_394, 67, 13_327),
        # 1,000 JPY at 0.0020537 = 2.0537 KWD (3 decimals); less 0.5 %: 2.0434315.
        (1_000, "JPY", "KWD", "0.0020537", 50, 2_054, 11, 2_043),
        # 1.234 KWD at 486.9 = 600.8346 JPY (no decimals); less 0.5 %: 597.830427.
        (1_234, "KWD", "JPY", "486.9", 50, 601, 3, 598),
        # A tie: 3 JPY at 0.005 = 1.5 US cents, rounded up.
        (3, "JPY", "USD", "0.005", 0, 2, 0, 2),
        # A tie after the spread: 2.00 EUR at 1 less 25 bps = 1.995 -> 2.00 USD... of 200 cents,
        # 199.5 -> 200: the spread rounds to nothing.
        (200, "EUR", "USD", "1", 25, 200, 0, 200),
        # Too small to be worth anything after the spread: 1 JPY into KWD.
        (1, "JPY", "KWD", "0.0004", 50, 0, 0, 0),
    ],
)
def test_conversion_rounds_half_up_to_the_targets_minor_unit(
    amount, source, target, rate, bps, gross, spread, seller
):
    converted = convert_minor(
        amount, source=source, target=target, rate=Fraction(Decimal(rate)), spread_bps=bps
    )
    assert (converted.gross_minor, converted.spread_minor, converted.target_minor) == (
        gross,
        spread,
        seller,
    )


def test_only_positive_amounts_and_rates_convert():
    with pytest.raises(ValueError, match="positive amount"):
        convert_minor(-5, source="EUR", target="USD", rate=Fraction(1), spread_bps=0)
    with pytest.raises(ValueError, match="positive Fraction"):
        convert_minor(5, source="EUR", target="USD", rate=Fraction(0), spread_bps=0)
    with pytest.raises(ValueError, match="positive Fraction"):
        convert_minor(5, source="EUR", target="USD", rate=1.1, spread_bps=0)


# --- conversion when the batch is made ---------------------------------------------------------


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_eur_sales_of_a_usd_seller_become_one_usd_batch_at_the_rate_less_the_spread():
    seller = usd_seller()
    rate = add_rate("EUR", "USD", "1.0850")
    sale(seller, 10_000, currency="EUR")
    sale(seller, 2_345, currency="EUR")

    (batch,) = create_batches(day=MONDAY)

    # 123.45 EUR * 1.085 = 133.94325 USD: 133.94 gross, 133.27 to the seller, 0.67 kept.
    assert (batch.currency, batch.net_minor, batch.line_count) == ("USD", 13_327, 1)
    assert_lines_sum_to_net(batch)
    (line,) = batch_lines(batch)
    assert line.reason == "fx_conversion_in"
    assert {key: line.metadata[key] for key in ("rate", "rate_id", "source", "spread_bps")} == {
        "rate": "1.0850000000",
        "rate_id": rate.pk,
        "source": "test",
        "spread_bps": 50,
    }
    assert line.metadata["as_of"] == rate.as_of.isoformat()
    assert (line.metadata["source_minor"], line.metadata["source_currency"]) == (12_345, "EUR")
    assert (line.metadata["converted_minor"], line.metadata["spread_minor"]) == (13_327, 67)

    conversion = FxConversion.objects.get()
    assert (conversion.source_minor, conversion.gross_minor, conversion.target_minor) == (
        12_345,
        13_394,
        13_327,
    )
    # The seller's EUR is the platform's now; the platform paid out USD and kept the spread.
    assert available(seller, "EUR") == 0
    assert available(seller, "USD") == 13_327
    assert balance(chart.fx("EUR"), "EUR") == 12_345
    assert balance(chart.fx("USD"), "USD") == -13_394
    assert balance(chart.FEES, "USD") == 67
    assert_every_currency_sums_to_zero()

    # The batch is paid in USD.
    (payout_id,) = services.create_payouts([batch.pk])
    payout = services.submit(payout_id, FakeBank(settle_as="paid"))
    assert (payout.status, payout.amount_minor, payout.currency) == ("paid", 13_327, "USD")
    assert available(seller, "USD") == 0
    assert_every_currency_sums_to_zero()


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_rerun_converts_and_batches_nothing_twice():
    seller = usd_seller()
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 10_000, currency="EUR")
    (first,) = create_batches(day=MONDAY)
    transfers = Transfer.objects.count()

    assert create_batches(day=MONDAY) == []
    assert create_batches(day=MONDAY + dt.timedelta(days=1)) == []
    report = convert_for_batches(day=MONDAY)
    assert (report.converted, report.waiting) == ([], [])
    assert Transfer.objects.count() == transfers
    assert FxConversion.objects.count() == 1

    # Only what came since is converted next time.
    sale(seller, 1_000, currency="EUR")
    (second,) = create_batches(day=MONDAY + dt.timedelta(days=2))
    assert (first.net_minor, second.net_minor) == (10_796, 1_080)  # 108.50 and 10.85, less 0.5 %
    assert FxConversion.objects.count() == 2
    assert SettlementBatch.objects.filter(currency="EUR").count() == 0


@pytest.mark.django_db(transaction=True)
@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_two_overlapping_runs_convert_each_range_once():
    sellers = [usd_seller() for _ in range(4)]
    add_rate("EUR", "USD", "1.1")
    for seller in sellers:
        sale(seller, 1_000, currency="EUR")
    barrier = threading.Barrier(2)
    made, errors = [], []

    def run():
        try:
            barrier.wait()
            made.extend(create_batches(day=MONDAY))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert FxConversion.objects.count() == 4
    assert sorted(b.net_minor for b in made) == [1_095] * 4  # 11.00 USD less 0.5 %: 10.945
    for seller in sellers:
        assert available(seller, "EUR") == 0
        assert available(seller, "USD") == 1_095
    assert_every_currency_sums_to_zero()


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_sales_in_both_currencies_make_one_batch_whose_lines_sum_to_its_net():
    seller = usd_seller()
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 5_000, currency="USD")
    sale(seller, 10_000, currency="EUR")
    refund_from_available(seller, 700, currency="USD")

    (batch,) = create_batches(day=MONDAY)

    assert (batch.currency, batch.net_minor) == ("USD", 5_000 + 10_796 - 700)
    assert sorted(line.reason for line in batch_lines(batch)) == [
        "balance_matured",
        "fx_conversion_in",
        "refund_posted",
    ]
    assert_lines_sum_to_net(batch)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_the_minimum_payout_counts_the_converted_amount():
    seller = usd_seller(profile__minimum_payout_minor=5_000)
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 4_000, currency="EUR")
    assert create_batches(day=MONDAY) == []  # 43.18 USD is below 50.00: it waits, converted
    assert available(seller, "USD") == 4_318
    sale(seller, 1_000, currency="EUR")
    (batch,) = create_batches(day=MONDAY + dt.timedelta(days=1))
    assert batch.net_minor == 4_318 + 1_080
    assert batch.line_count == 2
    assert_lines_sum_to_net(batch)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_jpy_and_kwd_convert_with_their_own_exponents():
    kwd_seller = SellerFactory(profile__settlement_currency="KWD")
    jpy_seller = SellerFactory(profile__settlement_currency="JPY")
    # Both ways at the same time: each conversion takes the direct quote.
    as_of = timezone.now() - dt.timedelta(hours=1)
    add_rate("JPY", "KWD", "0.0020537", as_of=as_of)
    add_rate("KWD", "JPY", "486.9", as_of=as_of)
    sale(kwd_seller, 1_000, currency="JPY")  # 1,000 yen
    sale(jpy_seller, 1_234, currency="KWD")  # 1.234 dinar

    batches = {b.seller_id: b for b in create_batches(day=MONDAY)}

    assert (batches[kwd_seller.pk].currency, batches[kwd_seller.pk].net_minor) == ("KWD", 2_043)
    assert (batches[jpy_seller.pk].currency, batches[jpy_seller.pk].net_minor) == ("JPY", 598)
    assert balance(chart.FEES, "KWD") == 11
    assert balance(chart.FEES, "JPY") == 3
    assert_every_currency_sums_to_zero()


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_rate_quoted_the_other_way_is_inverted_exactly():
    seller = usd_seller()
    rate = add_rate("USD", "EUR", "0.92")
    sale(seller, 10_000, currency="EUR")

    (batch,) = create_batches(day=MONDAY)

    # 100.00 EUR / 0.92 = 108.6956521739... USD: 108.70 gross; less 0.5 %: 108.152173913...
    assert batch.net_minor == 10_815
    conversion = FxConversion.objects.get()
    assert (conversion.fx_rate_id, conversion.inverted, conversion.gross_minor) == (
        rate.pk,
        True,
        10_870,
    )
    (line,) = batch_lines(batch)
    assert (line.metadata["rate_base"], line.metadata["rate_quote"]) == ("USD", "EUR")
    assert line.metadata["inverted"] is True


def test_the_latest_rate_either_way_wins_and_none_from_the_future():
    add_rate("EUR", "USD", "1.08", hours_ago=5)
    newer = add_rate("USD", "EUR", "0.9", hours_ago=2)
    now = timezone.now()
    add_rate("EUR", "USD", "1.5", hours_ago=-1)  # stored directly: the admin and CSV refuse it

    quoted = latest_rate(source="EUR", target="USD", at=now)
    assert (quoted.fx_rate, quoted.inverted, quoted.rate) == (newer, True, Fraction(10, 9))
    assert latest_rate(source="EUR", target="JPY", at=now) is None


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_without_a_rate_the_money_waits_and_is_not_batched_in_the_sale_currency(caplog):
    seller = usd_seller()
    sale(seller, 10_000, currency="EUR")

    assert create_batches(day=MONDAY) == []
    assert available(seller, "EUR") == 10_000
    assert FxConversion.objects.count() == 0
    assert f"seller {seller.pk}'s 10000 EUR waits: no_rate for EUR/USD" in caplog.text

    add_rate("EUR", "USD", "1.0850")
    (batch,) = create_batches(day=MONDAY + dt.timedelta(days=1))
    assert (batch.currency, batch.net_minor) == ("USD", 10_796)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_stale_rate_is_not_used_and_the_limit_is_a_setting(caplog):
    seller = usd_seller()
    add_rate("EUR", "USD", "1.0850", hours_ago=49)
    sale(seller, 10_000, currency="EUR")

    assert create_batches(day=MONDAY) == []
    assert available(seller, "EUR") == 10_000
    assert "waits: stale_rate for EUR/USD" in caplog.text

    with override_settings(CLEARHOUSE_FX_MAX_RATE_AGE_HOURS=72):
        (batch,) = create_batches(day=MONDAY + dt.timedelta(days=1))
    assert batch.net_minor == 10_796


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS, CLEARHOUSE_FX_SPREAD_BPS=0)
def test_the_spread_is_a_setting():
    seller = usd_seller()
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 10_000, currency="EUR")
    (batch,) = create_batches(day=MONDAY)
    assert batch.net_minor == 10_850
    assert [t.reason for t in Transfer.objects.filter(reason__startswith="fx_")].count(
        "fx_spread"
    ) == 0


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_seller_paid_in_the_sale_currency_keeps_it():
    seller = usd_seller(profile__paid_in_sale_currency=True)
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 10_000, currency="EUR")

    (batch,) = create_batches(day=MONDAY)

    assert (batch.currency, batch.net_minor) == ("EUR", 10_000)
    assert FxConversion.objects.count() == 0
    assert available(seller, "USD") == 0


def test_paid_in_sale_currency_needs_a_bank_account_on_file():
    data = {
        "legal_name": "Hudson Goods LLC",
        "country": "US",
        "default_currency": "USD",
        "settlement_currency": "USD",
        "paid_in_sale_currency": True,
    }
    with pytest.raises(ValidationError) as refused:
        clean_seller_profile(data)
    assert "paid_in_sale_currency" in refused.value.message_dict

    with_account = {**data, "account_number": "000123456789", "routing_number": "021000021"}
    assert clean_seller_profile(with_account)["paid_in_sale_currency"] is True
    opted_out = clean_seller_profile({**with_account, "paid_in_sale_currency": False})
    assert opted_out["paid_in_sale_currency"] is False


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_refund_after_the_conversion_is_netted_by_the_next_one():
    seller = usd_seller()
    add_rate("EUR", "USD", "1")
    sale(seller, 10_000, currency="EUR")
    (first,) = create_batches(day=MONDAY)
    assert first.net_minor == 9_950

    # The refund finds available(EUR) empty: it goes negative, and stays in EUR.
    refund_from_available(seller, 3_000, currency="EUR")
    assert available(seller, "EUR") == -3_000
    assert create_batches(day=MONDAY + dt.timedelta(days=1)) == []
    sale(seller, 2_000, currency="EUR")
    assert create_batches(day=MONDAY + dt.timedelta(days=2)) == []  # still -1,000: waits
    assert FxConversion.objects.count() == 1

    sale(seller, 5_000, currency="EUR")
    (second,) = create_batches(day=MONDAY + dt.timedelta(days=3))
    # -3,000 + 2,000 + 5,000 = 4,000 EUR cents converted; the refund was recovered first.
    assert second.net_minor == 3_980
    assert FxConversion.objects.order_by("log_from").last().source_minor == 4_000
    assert available(seller, "EUR") == 0
    assert_every_currency_sums_to_zero()


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_seller_who_later_chooses_the_sale_currency_gets_only_the_unconverted_rest():
    seller = usd_seller()
    add_rate("EUR", "USD", "1")
    sale(seller, 10_000, currency="EUR")
    create_batches(day=MONDAY)
    sale(seller, 700, currency="EUR")
    seller.seller_profile.paid_in_sale_currency = True
    seller.seller_profile.save()

    (batch,) = create_batches(day=MONDAY + dt.timedelta(days=1))

    # The EUR batch covers the whole EUR range since the start, the conversion's debit included.
    assert (batch.currency, batch.net_minor) == ("EUR", 700)
    assert_lines_sum_to_net(batch)


# --- over random rates and amounts ---------------------------------------------------------------

PAIRS = [("EUR", "USD"), ("JPY", "KWD"), ("KWD", "JPY"), ("USD", "JPY"), ("EUR", "KWD")]
rates = st.decimals(
    min_value=Decimal("0.0001"),
    max_value=Decimal("5000"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["sale", "refund", "batch"]),
        st.integers(min_value=1, max_value=10**8),
        st.integers(min_value=0, max_value=10**6),  # a sale's fee
    ),
    min_size=1,
    max_size=10,
)


def oracle(source_minor, source, target, rate, inverted, bps):
    """The conversion again, with Decimal at 80 digits and ROUND_HALF_UP (a tie after an exact
    division is exact at this precision; a non-terminating quotient is never a tie)."""
    from core.money import currency_exponent

    with localcontext() as context:
        context.prec = 80
        per_unit = Decimal(1) / rate if inverted else rate
        exact = Decimal(source_minor) * per_unit
        exact = exact.scaleb(currency_exponent(target) - currency_exponent(source))
        gross = exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        seller = (exact * (10_000 - bps) / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(gross), int(seller)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
@hsettings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pair=st.sampled_from(PAIRS),
    inverted=st.booleans(),
    rate=rates,
    bps=st.integers(min_value=0, max_value=300),
    moves=steps,
)
def test_over_random_rates_fees_and_refunds_across_a_conversion_sum_exactly(
    pair, inverted, rate, bps, moves
):
    source, target = pair
    seller = SellerFactory(profile__settlement_currency=target)
    base, quote = (target, source) if inverted else (source, target)
    FxRate.objects.create(
        base=base,
        quote=quote,
        rate=rate,
        as_of=timezone.now() - dt.timedelta(minutes=1),
        source=f"test:{uuid.uuid4()}",
    )
    fees_before = balance(chart.FEES, source), balance(chart.FEES, target)
    sold = refunded = fees = 0
    day = MONDAY
    batches = []
    with override_settings(CLEARHOUSE_FX_SPREAD_BPS=bps):
        for kind, amount, fee in [*moves, ("batch", 0, 0)]:
            if kind == "sale":
                released(seller, net_minor=amount, fee_minor=fee, currency=source)
                mature_due()
                sold, fees = sold + amount, fees + fee
            elif kind == "refund":
                refund_from_available(seller, amount, currency=source)
                refunded += amount
            else:
                batches += create_batches(day=day, sellers=[seller.pk])
                day += dt.timedelta(days=1)

    conversions = list(FxConversion.objects.filter(seller=seller))
    for conversion in conversions:
        assert conversion.source_minor > 0  # a negative net is never converted
        gross, to_seller = oracle(conversion.source_minor, source, target, rate, inverted, bps)
        assert (conversion.gross_minor, conversion.target_minor) == (gross, to_seller)
        assert conversion.spread_minor == gross - to_seller
    converted = sum(c.source_minor for c in conversions)
    paid_in = sum(c.target_minor for c in conversions)
    spread = sum(c.spread_minor for c in conversions)

    # Source currency: every sale is converted, refunded or still waiting (possibly negative);
    # sale fees stay in it, whole.
    assert available(seller, source) == sold - refunded - converted
    assert balance(chart.FEES, source) - fees_before[0] == fees
    # Target currency: what conversions credited is in batches or still waiting; the spread is
    # the platform's fee in it.
    assert all(b.currency == target for b in batches)
    for batch in batches:
        assert_lines_sum_to_net(batch)
    assert available(seller, target) == paid_in  # no payout has taken anything in this test
    assert sum(b.net_minor for b in batches) == paid_in  # each run batched what it converted
    assert balance(chart.FEES, target) - fees_before[1] == spread
    # With no minimum, what still waits after the last run is a shortfall, or too little to be
    # worth one minor unit of the target.
    rest = available(seller, source)
    if rest > 0:
        per_unit = Fraction(1) / Fraction(rate) if inverted else Fraction(rate)
        too_small = convert_minor(rest, source=source, target=target, rate=per_unit, spread_bps=bps)
        assert too_small.target_minor == 0
    assert_every_currency_sums_to_zero()


# --- rates: CSV import ---------------------------------------------------------------------------


def write(tmp_path, text, name="rates.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


GOOD_CSV = """base,quote,rate,as_of,source
EUR,USD,1.0850,2026-12-01T16:00:00+01:00,ecb
eur,JPY,162.5,2026-12-01T16:00:00+01:00,
KWD,USD,3.2519,2026-12-01T15:00:00Z,ecb
"""


def test_a_good_csv_file_is_imported_once(tmp_path, capsys):
    path = write(tmp_path, GOOD_CSV, encoding="utf-8-sig")  # a spreadsheet's BOM

    call_command("import_fx_rates", path)

    assert "3 rate(s) imported, 0 already recorded" in capsys.readouterr().out
    rows = {(r.base, r.quote): r for r in FxRate.objects.all()}
    assert rows["EUR", "USD"].rate == Decimal("1.0850")
    assert rows["EUR", "USD"].as_of == dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    assert rows["EUR", "JPY"].source == "csv:rates.csv"
    assert rows["KWD", "USD"].source == "ecb"

    call_command("import_fx_rates", path)
    assert "0 rate(s) imported, 3 already recorded" in capsys.readouterr().out
    assert FxRate.objects.count() == 3


def test_a_bad_csv_file_imports_nothing_and_names_every_bad_line(tmp_path):
    path = write(
        tmp_path,
        """base,quote,rate,as_of
EUR,USD,1.0850,2026-12-01T16:00:00+01:00
EUR,EUR,1,2026-12-01T16:00:00+01:00
XAU,USD,2000,2026-12-01T16:00:00+01:00
EUR,GBP,-0.85,2026-12-01T16:00:00+01:00
EUR,GBP,0.85000000001,2026-12-01T16:00:00+01:00
EUR,CHF,0.94,2026-12-01
EUR,CHF,0.94,2999-01-01T00:00:00Z
EUR,CHF,1e0,2026-12-01T16:00:00Z
EUR,USD,1.0850,2026-12-01T15:00:00Z
EUR,SEK,11.5
""",
    )
    with pytest.raises(CommandError) as refused:
        call_command("import_fx_rates", path)

    message = str(refused.value)
    assert "nothing imported" in message
    for expected in (
        "line 3: quote: A rate is between two different currencies.",
        "line 4: base: XAU:",
        "line 5: rate: A rate is a positive number.",
        "line 6: rate: A rate has at most 10 decimal places",
        "line 7: as_of: '2026-12-01' has no UTC offset",
        "line 8: as_of: A rate cannot be from the future.",
        "line 9: rate: '1e0' is not a plain decimal number",
        "line 10: repeats the rate of line 2",
        "line 11: has another number of fields than the header",
    ):
        assert expected in message
    assert "line 2:" not in message
    assert FxRate.objects.count() == 0


def test_a_recorded_rate_is_not_changed_by_a_reimport(tmp_path):
    call_command("import_fx_rates", write(tmp_path, GOOD_CSV))
    changed = GOOD_CSV.replace("1.0850", "1.0900")
    with pytest.raises(CommandError, match=r"line 2: EUR/USD at .* is already recorded as"):
        call_command("import_fx_rates", write(tmp_path, changed, name="again.csv"))
    assert FxRate.objects.get(base="EUR", quote="USD").rate == Decimal("1.0850")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("base,quote,rate\nEUR,USD,1\n", "line 1: the header must name base,quote,rate,as_of"),
        ("base,quote,rate,as_of,bank\n", "unknown column(s) bank"),
        ("base,quote,rate,as_of\n", "the file holds no rates"),
    ],
)
def test_a_file_without_the_columns_or_rates_is_refused(tmp_path, text, expected):
    with pytest.raises(CommandError) as refused:
        call_command("import_fx_rates", write(tmp_path, text))
    assert expected in str(refused.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_fx_rates", str(tmp_path / "nope.csv"))


# --- rates: staff entry in the admin --------------------------------------------------------------


def admin_form(base, quote, rate, when):
    local = timezone.localtime(when)
    return {
        "base": base,
        "quote": quote,
        "rate": rate,
        "as_of_0": local.strftime("%Y-%m-%d"),
        "as_of_1": local.strftime("%H:%M:%S"),
    }


@pytest.mark.parametrize(
    ("base", "quote", "rate", "hours_ago", "field"),
    [
        ("EUR", "EUR", "1", 1, "quote"),
        ("XAU", "USD", "2000", 1, "base"),
        ("EUR", "ABC", "1", 1, "quote"),
        ("EUR", "USD", "0", 1, "rate"),
        ("EUR", "USD", "-1.2", 1, "rate"),
        ("EUR", "USD", "1.08", -2, "as_of"),
    ],
)
def test_staff_cannot_enter_an_invalid_rate(admin_client, base, quote, rate, hours_ago, field):
    when = timezone.now() - dt.timedelta(hours=hours_ago)
    response = admin_client.post(
        reverse("admin:settlement_fxrate_add"), admin_form(base, quote, rate, when)
    )
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert FxRate.objects.count() == 0


def test_staff_enter_a_rate_which_is_then_read_only(admin_client, admin_user):
    when = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    response = admin_client.post(
        reverse("admin:settlement_fxrate_add"), admin_form("eur", "usd", "1.0850", when)
    )
    assert response.status_code == 302
    rate = FxRate.objects.get()
    assert (rate.base, rate.quote, rate.rate, rate.as_of) == ("EUR", "USD", Decimal("1.085"), when)
    assert rate.source == f"staff:{admin_user.pk}"

    change = reverse("admin:settlement_fxrate_change", args=[rate.pk])
    assert admin_client.get(change).status_code == 200  # viewable
    assert admin_client.post(change, admin_form("EUR", "USD", "2", when)).status_code == 403
    assert FxRate.objects.get().rate == Decimal("1.085")


# --- the API shows the conversion on the line ---------------------------------------------------


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_batch_line_shows_the_rate_and_the_spread(admin_client):
    from rest_framework.test import APIClient

    seller = usd_seller()
    add_rate("EUR", "USD", "1.0850")
    sale(seller, 10_000, currency="EUR")
    (batch,) = create_batches(day=MONDAY)
    client = APIClient()
    client.force_authenticate(seller)

    (line,) = client.get(f"/api/v1/settlement-batches/{batch.pk}/").json()["lines"]

    assert (line["kind"], line["amount_minor"], line["currency"]) == (
        "currency_conversion",
        10_796,
        "USD",
    )
    assert {k: line["fx"][k] for k in ("rate", "spread_bps", "spread_minor", "source_minor")} == {
        "rate": "1.0850000000",
        "spread_bps": 50,
        "spread_minor": 54,
        "source_minor": 10_000,
    }
