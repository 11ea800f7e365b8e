"""Conversion: a seller's money in a sale currency C is converted into the settlement currency S
just before the seller's batches are made (create_batches runs it first), so the batch in S pays
it. A seller with `paid_in_sale_currency` set is not converted: each currency is batched and paid
in its own.

For each seller being batched and each currency C != S in which the seller has a positive net
not yet converted, one linked ledger batch:

    seller:<id>:available (C) -> platform:fx:C              the net, in C    (fx_conversion_out)
    platform:fx:S -> seller:<id>:available (S)              what the seller gets (fx_conversion_in)
    platform:fx:S -> platform:fees (S)                      the spread, if any (fx_spread)

Each currency sums to zero (one transfer debits and credits the same currency); platform:fx:C
and platform:fx:S hold the platform's position at the rate (what it bought, what it paid).

What is converted is exactly what a batch in C would have paid: the posted lines on
available(C) in the log range [log_from, log_to), where log_from is where the seller's last
conversion in C ended (or its last batch in C, whichever is later) and log_to the log's size when
the run began. Earlier conversions' own debits in that range are left out (they settle lines
before it). Lines then net on their own terms, as batches do:

  - a negative net (refunds after release) is not converted: it waits and is recovered from the
    next sales in C first, because the next range starts at the same place;
  - a refund in C after a conversion makes available(C) negative, and the next conversion nets it
    first; it never reaches back into S.

Consecutive conversions of a seller and currency tile the log (FxConversion, unique on (seller,
currency, log_from)), so two overlapping runs convert a range once; ids are uuid5 of the chart's
FX namespace and the seller, currency and range, so a replay posts nothing twice.

The rate is the latest at or before the run's time for C/S or S/C (settlement/fx_rates.py). With
none, or one older than CLEARHOUSE_FX_MAX_RATE_AGE_HOURS (48), nothing is converted: the money
waits in available(C), a warning names the seller and pair, and no batch in C is made either.

Rounding, explicit and exact (fractions of integers, no float, no intermediate rounding):

    exact  = net_C * rate * 10**(exponent(S) - exponent(C))       (JPY 0, USD 2, KWD 3)
    gross  = round_half_up(exact)                                 what the net is worth in S
    seller = round_half_up(exact * (10000 - spread_bps) / 10000)  what the seller gets
    spread = gross - seller                                       what the platform keeps

half-up meaning to the nearest minor unit, ties away from zero (as core.money.fee_from_bps).
The spread is CLEARHOUSE_FX_SPREAD_BPS (50 bps by default). A net worth nothing after the spread
(a single yen into KWD) waits for more.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.money import BPS_DENOMINATOR, currency_exponent
from ledger import chart
from ledger.services import TransferRequest, create_transfers
from settlement.batches import LINE_FILTER, bring_log_up_to_date
from settlement.fx_rates import QuotedRate, latest_rate

logger = logging.getLogger(__name__)

DEFAULT_SPREAD_BPS = 50
DEFAULT_MAX_RATE_AGE_HOURS = 48
OUT_REASON = "fx_conversion_out"
IN_REASON = "fx_conversion_in"
SPREAD_REASON = "fx_spread"


def spread_bps() -> int:
    bps = getattr(settings, "CLEARHOUSE_FX_SPREAD_BPS", DEFAULT_SPREAD_BPS)
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps < BPS_DENOMINATOR:
        raise ValueError(f"CLEARHOUSE_FX_SPREAD_BPS must be an int from 0 to 9999, not {bps!r}")
    return bps


def max_rate_age() -> dt.timedelta:
    hours = getattr(settings, "CLEARHOUSE_FX_MAX_RATE_AGE_HOURS", DEFAULT_MAX_RATE_AGE_HOURS)
    return dt.timedelta(hours=hours)


# --- arithmetic ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    """An amount converted: gross = seller + spread, all in the target's minor units."""

    gross_minor: int
    spread_minor: int
    target_minor: int


def round_half_up(value: Fraction) -> int:
    """To the nearest integer, ties away from zero (2.5 -> 3, -2.5 -> -3)."""
    magnitude = (2 * abs(value.numerator) + value.denominator) // (2 * value.denominator)
    return -magnitude if value < 0 else magnitude


def convert_minor(
    amount_minor: int, *, source: str, target: str, rate: Fraction, spread_bps: int
) -> Converted:
    """`amount_minor` of `source` in `target` at `rate` (target major units per source major
    unit), less the spread; see the module's rounding rule."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValueError("only a positive amount of minor units is converted")
    if not isinstance(rate, Fraction) or rate <= 0:
        raise ValueError("a rate is a positive Fraction")
    if not 0 <= spread_bps < BPS_DENOMINATOR:
        raise ValueError("spread_bps must be from 0 to 9999")
    scale = Fraction(10) ** (currency_exponent(target) - currency_exponent(source))
    exact = amount_minor * rate * scale
    gross = round_half_up(exact)
    seller = round_half_up(exact * Fraction(BPS_DENOMINATOR - spread_bps, BPS_DENOMINATOR))
    assert 0 <= seller <= gross, (seller, gross)
    return Converted(gross_minor=gross, spread_minor=gross - seller, target_minor=seller)


# --- what is waiting to be converted ---------------------------------------------------------

# Per seller being batched (schedule or named) who is paid in the settlement currency, per
# available account in another currency: the net over [cursor, log_to) when positive. The cursor
# is where the last conversion or batch in that currency ended; an earlier conversion's own debit
# (settles_to <= cursor) pays for lines before the range and is left out.
_PENDING_CONVERSIONS = """
WITH due AS (
    SELECT sp.user_id, sp.settlement_currency
      FROM accounts_sellerprofile sp
     WHERE NOT sp.paid_in_sale_currency
       AND CASE WHEN %(sellers)s::bigint[] IS NULL
                THEN settlement_payout_due(sp.settlement_schedule, sp.payout_weekday,
                                           sp.payout_monthday, %(day)s::date)
                ELSE sp.user_id = ANY(%(sellers)s::bigint[]) END
), cursors AS (
    SELECT d.user_id, d.settlement_currency, a.id AS account_id, a.currency,
           greatest(coalesce(batch.log_to, 0), coalesce(conv.log_to, 0)) AS log_from
      FROM due d
      JOIN ledger_account a ON a.code = 'seller:' || d.user_id || ':available'
                           AND a.currency <> d.settlement_currency
      LEFT JOIN LATERAL (
            SELECT b.log_to FROM settlement_settlementbatch b
             WHERE b.seller_id = d.user_id AND b.currency = a.currency
             ORDER BY b.log_to DESC LIMIT 1) AS batch ON true
      LEFT JOIN LATERAL (
            SELECT c.log_to FROM settlement_fxconversion c
             WHERE c.seller_id = d.user_id AND c.source_currency = a.currency
             ORDER BY c.log_to DESC LIMIT 1) AS conv ON true
), moves AS (
    SELECT e.index, x.account_id, x.signed, x.settles_to
      FROM ledger_logentry e
      JOIN ledger_transfer t ON t.id = e.transfer_id
     CROSS JOIN LATERAL (
            VALUES (t.credit_account_id, t.amount_minor, NULL::bigint),
                   (t.debit_account_id, -t.amount_minor,
                    CASE WHEN t.reason = '{out_reason}'
                         THEN (t.metadata ->> 'log_to')::bigint END))
            AS x (account_id, signed, settles_to)
     WHERE e.index >= (SELECT coalesce(min(log_from), %(log_to)s) FROM cursors)
       AND e.index < %(log_to)s
       AND {line_filter}
)
SELECT c.user_id, c.currency, c.settlement_currency, c.log_from, sum(m.signed)
  FROM cursors c
  JOIN moves m ON m.account_id = c.account_id AND m.index >= c.log_from
              AND (m.settles_to IS NULL OR m.settles_to > c.log_from)
 WHERE c.log_from < %(log_to)s
 GROUP BY c.user_id, c.currency, c.settlement_currency, c.log_from
HAVING sum(m.signed) > 0
 ORDER BY c.user_id, c.currency
""".replace("{line_filter}", LINE_FILTER).replace("{out_reason}", OUT_REASON)

_RECORD_CONVERSION = """
INSERT INTO settlement_fxconversion
       (id, seller_id, source_currency, target_currency, log_from, log_to, source_minor,
        gross_minor, spread_minor, target_minor, spread_bps, fx_rate_id, inverted, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT DO NOTHING
RETURNING id
"""


@dataclass(frozen=True)
class Pending:
    """A seller's net in a sale currency, waiting to be converted."""

    seller_id: int
    source: str
    target: str
    log_from: int
    log_to: int
    net_minor: int


@dataclass
class ConversionReport:
    converted: list[uuid.UUID] = field(default_factory=list)
    # (seller, source, target, net, why): why is "no_rate", "stale_rate" or "too_small".
    waiting: list[tuple[int, str, str, int, str]] = field(default_factory=list)


def conversion_id(*, seller_id: int, source: str, log_from: int, log_to: int) -> uuid.UUID:
    return uuid.uuid5(chart.FX_TRANSFERS, f"fx:seller:{seller_id}:{source}:log:{log_from}-{log_to}")


def conversion_transfer_id(conversion: uuid.UUID, step: str) -> uuid.UUID:
    """The id of a conversion's transfer: step "out", "in" or "spread"."""
    return uuid.uuid5(chart.FX_TRANSFERS, f"fx_conversion:{conversion}:{step}")


def pending_conversions(
    *, day: dt.date, sellers: Sequence[int] | None, log_to: int
) -> list[Pending]:
    with connection.cursor() as cursor:
        cursor.execute(
            _PENDING_CONVERSIONS,
            {"day": day, "log_to": log_to, "sellers": list(sellers) if sellers else None},
        )
        rows = cursor.fetchall()
    return [
        Pending(seller_id=s, source=c, target=t, log_from=f, log_to=log_to, net_minor=int(n))
        for s, c, t, f, n in rows
    ]


def convert_for_batches(
    *, day: dt.date, sellers: Sequence[int] | None = None, now: dt.datetime | None = None
) -> ConversionReport:
    """Convert every pending foreign-currency net of the sellers batched on `day` (or of the
    named sellers) into their settlement currency. One transaction per conversion; safe to run
    again or alongside another run (a range converted meanwhile by the other is skipped)."""
    now = now or timezone.now()
    bps = spread_bps()
    oldest = now - max_rate_age()
    report = ConversionReport()
    for pending in pending_conversions(day=day, sellers=sellers, log_to=bring_log_up_to_date()):
        quoted = latest_rate(source=pending.source, target=pending.target, at=now)
        if quoted is None:
            why = "no_rate"
        elif quoted.fx_rate.as_of < oldest:
            why = "stale_rate"
        else:
            converted = convert_minor(
                pending.net_minor,
                source=pending.source,
                target=pending.target,
                rate=quoted.rate,
                spread_bps=bps,
            )
            if converted.target_minor <= 0:
                why = "too_small"
            else:
                made = _post(pending, quoted, converted, bps)
                if made is not None:
                    report.converted.append(made)
                continue
        # The case for staff: this seller's money in this currency is not paid until it is.
        logger.warning(
            "FX: seller %s's %s %s waits: %s for %s/%s at %s",
            pending.seller_id,
            pending.net_minor,
            pending.source,
            why,
            pending.source,
            pending.target,
            now.isoformat(),
        )
        report.waiting.append(
            (pending.seller_id, pending.source, pending.target, pending.net_minor, why)
        )
    return report


def _metadata(
    pending: Pending, conversion: uuid.UUID, quoted: QuotedRate, converted: Converted, bps: int
) -> dict:
    rate = quoted.fx_rate
    return {
        "seller": pending.seller_id,
        "fx_conversion": str(conversion),
        "log_from": pending.log_from,
        "log_to": pending.log_to,
        "rate": str(rate.rate),
        "rate_base": rate.base,
        "rate_quote": rate.quote,
        "rate_id": rate.pk,
        "inverted": quoted.inverted,
        "as_of": rate.as_of.isoformat(),
        "source": rate.source,
        "spread_bps": bps,
        "source_minor": pending.net_minor,
        "source_currency": pending.source,
        "gross_minor": converted.gross_minor,
        "spread_minor": converted.spread_minor,
        "converted_minor": converted.target_minor,
        "target_currency": pending.target,
    }


def _post(pending: Pending, quoted: QuotedRate, converted: Converted, bps: int) -> uuid.UUID | None:
    """Record the conversion and post its transfers in one transaction; None if another run
    converted this range first."""
    conversion = conversion_id(
        seller_id=pending.seller_id,
        source=pending.source,
        log_from=pending.log_from,
        log_to=pending.log_to,
    )
    seller, source, target = pending.seller_id, pending.source, pending.target
    metadata = _metadata(pending, conversion, quoted, converted, bps)
    reference = f"fx_conversion:{conversion}"

    def transfer(
        step: str, currency: str, debit: str, credit: str, amount_minor: int, reason: str
    ) -> TransferRequest:
        return TransferRequest(
            id=conversion_transfer_id(conversion, step),
            debit_account_id=chart.account(currency=currency, code=debit),
            credit_account_id=chart.account(currency=currency, code=credit),
            amount_minor=amount_minor,
            currency=currency,
            reason=reason,
            reference=reference,
            metadata=metadata,
        )

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _RECORD_CONVERSION,
                [
                    conversion,
                    seller,
                    source,
                    target,
                    pending.log_from,
                    pending.log_to,
                    pending.net_minor,
                    converted.gross_minor,
                    converted.spread_minor,
                    converted.target_minor,
                    bps,
                    quoted.fx_rate.pk,
                    quoted.inverted,
                ],
            )
            if cursor.fetchone() is None:
                return None
        available = chart.seller_available(seller)
        requests = [
            transfer("out", source, available, chart.fx(source), pending.net_minor, OUT_REASON),
            transfer("in", target, chart.fx(target), available, converted.target_minor, IN_REASON),
        ]
        if converted.spread_minor:
            requests.append(
                transfer(
                    "spread",
                    target,
                    chart.fx(target),
                    chart.FEES,
                    converted.spread_minor,
                    SPREAD_REASON,
                )
            )
        create_transfers(requests)
    logger.info(
        "FX: seller %s converted %s %s into %s %s (spread %s)",
        seller,
        pending.net_minor,
        source,
        converted.target_minor,
        target,
        converted.spread_minor,
    )
    return conversion
