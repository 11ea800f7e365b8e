"""Reads for the seller's dashboard. Each costs what the page shows, not what the seller's history
holds:

- balances: the ledger's balance rows (counters + unfolded deltas, ledger.selectors), never sums
  over transfers;
- the next payout: its day from settlement_payout_due (the one schedule rule), its estimate from
  the batches' own query (settlement.batches.preview_batches) over the log since the last batch;
- charts: SellerDailyTotal, one row per day and currency (kept by daily_totals.py);
- lists: keyset pages over the (seller, newest first) indexes of batches and payouts;
- what waits on the seller: counts served by partial indexes (orders awaiting acceptance, open
  disputes) and the seller's payouts.

Who sees what is settlement.selectors' rule (batches_visible_to, payouts_visible_to): a seller
its own; the pages only ever ask for the signed-in seller's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from babel.numbers import list_currencies
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.errors import NotFound
from ledger import chart
from ledger.models import Account
from ledger.selectors import account_balances
from payments.models import Dispute, DisputeStatus, SubOrder, SubOrderStatus
from settlement.batches import BatchPreview, preview_batches
from settlement.confirmations.models import Acknowledgement, AckSide, AckState
from settlement.dashboard.models import SellerDailyTotal
from settlement.models import (
    LIVE_PAYOUT_STATUSES,
    Payout,
    PayoutEvent,
    PayoutStatus,
    SettlementBatch,
)
from settlement.selectors import batches_visible_to, payouts_visible_to

PAGE_SIZE = 25
RECENT_PAYOUTS = 5
CHART_PERIODS = (30, 90)
# How far ahead the next payout day is looked for (a monthly schedule is due within 31 days).
NEXT_PAYOUT_HORIZON_DAYS = 62

# Every ISO 4217 code babel knows. Ledger accounts are unique on (currency, code): naming the
# currencies lets PostgreSQL find a seller's accounts through that index (a handful of probes)
# instead of reading every account to match the code alone.
_CURRENCIES = sorted(list_currencies())


# --- balances ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyBalances:
    """A seller's money in one currency, in minor units, from the ledger's balance rows.

    pending     released to the seller, waiting for the hold period
    available   what payouts may take (what is in transit already taken out)
    reserve     the rolling reserve, released later
    in_transit  payouts submitted to the bank and not yet paid
    negative    a shortfall carried (zero or less): refunds after release that found the balance
                short, recovered from the seller's next settlements first. Pending and available
                are shown from zero up; what is below zero is here.
    """

    currency: str
    pending_minor: int = 0
    available_minor: int = 0
    reserve_minor: int = 0
    in_transit_minor: int = 0
    negative_minor: int = 0


def seller_balances(*, seller_id: int) -> list[CurrencyBalances]:
    """One entry per currency in which the seller has a ledger account, by currency code."""
    names = {
        chart.seller_pending(seller_id): "pending",
        chart.seller_available(seller_id): "available",
        chart.seller_reserve(seller_id): "reserve",
    }
    accounts = list(
        Account.objects.filter(currency__in=_CURRENCIES, code__in=list(names)).values_list(
            "id", "code", "currency"
        )
    )
    balances = account_balances([account_id for account_id, _, _ in accounts])
    amounts: dict[str, dict[str, int]] = {}
    for account_id, code, currency in accounts:
        balance = balances[account_id]
        found = amounts.setdefault(currency, {})
        found[names[code]] = balance.credit_balance
        if names[code] == "available":
            found["in_transit"] = balance.debits_pending
    out = []
    for currency in sorted(amounts):
        found = amounts[currency]
        pending = found.get("pending", 0)
        available = found.get("available", 0) - found.get("in_transit", 0)
        out.append(
            CurrencyBalances(
                currency=currency,
                pending_minor=max(pending, 0),
                available_minor=max(available, 0),
                reserve_minor=found.get("reserve", 0),
                in_transit_minor=found.get("in_transit", 0),
                negative_minor=min(pending, 0) + min(available, 0),
            )
        )
    return out


# --- the next payout ---------------------------------------------------------------------------

# The first day from today on that the seller's schedule falls on, asked of the schedule rule
# itself; today only while today's batch has not been made yet.
_NEXT_PAYOUT_DAY = """
SELECT day::date
  FROM generate_series(
         (%(today)s::date + CASE WHEN EXISTS (
              SELECT 1 FROM settlement_settlementbatch b
               WHERE b.seller_id = %(seller)s AND b.period_end = %(today)s::date)
          THEN 1 ELSE 0 END)::timestamp,
         (%(today)s::date + %(horizon)s)::timestamp,
         interval '1 day') AS day
 WHERE settlement_payout_due(%(schedule)s, %(weekday)s, %(monthday)s, day::date)
 ORDER BY day
 LIMIT 1
"""


@dataclass(frozen=True)
class NextPayout:
    day: dt.date | None  # None: a manual schedule (paid when asked), or no profile
    schedule: str  # the schedule's label
    estimates: list[BatchPreview] = field(default_factory=list)
    has_payout_account: bool = False


def next_payout(*, seller_id: int, profile: Any, today: dt.date) -> NextPayout:
    """When the seller is paid next and what that batch would hold if it were made now."""
    if profile is None:
        return NextPayout(day=None, schedule="no seller profile")
    with connection.cursor() as cursor:
        cursor.execute(
            _NEXT_PAYOUT_DAY,
            {
                "today": today,
                "seller": seller_id,
                "horizon": NEXT_PAYOUT_HORIZON_DAYS,
                "schedule": profile.settlement_schedule,
                "weekday": profile.payout_weekday,
                "monthday": profile.payout_monthday,
            },
        )
        row = cursor.fetchone()
    return NextPayout(
        day=row[0] if row else None,
        schedule=profile.get_settlement_schedule_display(),
        estimates=preview_batches(sellers=[seller_id], day=row[0] if row else today),
        has_payout_account=profile.has_payout_account,
    )


# --- payouts -----------------------------------------------------------------------------------


def recent_payouts(*, user: Any, limit: int = RECENT_PAYOUTS) -> list[Payout]:
    return list(payouts_visible_to(user).order_by("-created_at", "-id")[:limit])


def payout_for(*, user: Any, payout_id: Any) -> Payout:
    """The user's payout, or NotFound (another seller's is not found either)."""
    try:
        return payouts_visible_to(user).get(pk=payout_id)
    except (Payout.DoesNotExist, ValueError):
        raise NotFound("No such payout.", code="payout_not_found") from None


def payout_history(payout: Payout) -> list[PayoutEvent]:
    """The states the payout reached, in order (contradicting bank answers are staff's cases)."""
    return list(payout.events.exclude(kind="contradiction").order_by("created_at", "id"))


def batch_for(*, user: Any, batch_id: Any) -> SettlementBatch:
    """The user's batch, or NotFound (another seller's is not found either)."""
    try:
        return batches_visible_to(user).get(pk=batch_id)
    except (SettlementBatch.DoesNotExist, ValueError):
        raise NotFound("No such settlement.", code="batch_not_found") from None


def batch_payouts(batch: SettlementBatch) -> list[Payout]:
    return list(batch.payouts.order_by("created_at", "id"))


# --- what waits on the seller ------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    orders_to_accept: int
    open_disputes: int
    # Batches whose payout failed or came back and that wait for a new one (after the seller
    # fixes the bank account).
    payouts_failed: int
    payout_account_missing: bool
    # Paid payouts whose receipt the seller is asked to acknowledge (window still open).
    payouts_to_acknowledge: int | None = None

    @property
    def total(self) -> int:
        return (
            self.orders_to_accept
            + self.open_disputes
            + self.payouts_failed
            + int(self.payout_account_missing)
            + (self.payouts_to_acknowledge or 0)
        )


def waiting_for(*, seller_id: int, profile: Any) -> Waiting:
    # From the seller's own payouts (its index), those that failed or came back and whose batch
    # has no live payout since.
    live = Payout.objects.filter(batch_id=OuterRef("batch_id"), status__in=LIVE_PAYOUT_STATUSES)
    failed = (
        Payout.objects.filter(
            seller_id=seller_id, status__in=[PayoutStatus.FAILED, PayoutStatus.RETURNED]
        )
        .exclude(Exists(live))
        .values("batch_id")
        .distinct()
        .count()
    )
    return Waiting(
        orders_to_accept=SubOrder.objects.filter(
            seller_id=seller_id, status=SubOrderStatus.AWAITING_ACCEPTANCE
        ).count(),
        open_disputes=Dispute.objects.filter(
            sub_order__seller_id=seller_id, status=DisputeStatus.OPEN
        ).count(),
        payouts_failed=failed,
        payout_account_missing=profile is not None and not profile.has_payout_account,
        payouts_to_acknowledge=Acknowledgement.objects.filter(
            party_id=seller_id,
            side=AckSide.SELLER,
            state=AckState.PENDING,
            due_at__gt=timezone.now(),
        ).count(),
    )


# --- daily totals for the charts ---------------------------------------------------------------


@dataclass(frozen=True)
class DayTotal:
    day: dt.date
    sales_minor: int = 0
    sales_count: int = 0
    fees_minor: int = 0
    refunds_minor: int = 0
    refunds_count: int = 0


@dataclass(frozen=True)
class CurrencySeries:
    currency: str
    days: list[DayTotal]

    @property
    def sales_minor(self) -> int:
        return sum(day.sales_minor for day in self.days)

    @property
    def sales_count(self) -> int:
        return sum(day.sales_count for day in self.days)

    @property
    def fees_minor(self) -> int:
        return sum(day.fees_minor for day in self.days)

    @property
    def refunds_minor(self) -> int:
        return sum(day.refunds_minor for day in self.days)


def daily_series(*, seller_id: int, days: int, today: dt.date) -> list[CurrencySeries]:
    """The last `days` days up to today, every day present (zero where nothing happened), one
    series per currency the seller sold, refunded or paid fees in over those days."""
    if days not in CHART_PERIODS:
        raise ValueError(f"days must be one of {CHART_PERIODS}")
    first = today - dt.timedelta(days=days - 1)
    rows = SellerDailyTotal.objects.filter(
        seller_id=seller_id, day__gte=first, day__lte=today
    ).values_list(
        "currency", "day", "sales_minor", "sales_count", "fees_minor", "refunds_minor",
        "refunds_count",
    )  # fmt: skip
    by_currency: dict[str, dict[dt.date, DayTotal]] = {}
    for currency, day, *amounts in rows:
        by_currency.setdefault(currency, {})[day] = DayTotal(day, *amounts)
    calendar = [first + dt.timedelta(days=offset) for offset in range(days)]
    return [
        CurrencySeries(
            currency=currency,
            days=[by_currency[currency].get(day) or DayTotal(day) for day in calendar],
        )
        for currency in sorted(by_currency)
    ]


# --- keyset pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None  # pass back as ?after= for the following page


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, count: int) -> list[str] | None:
    """The parts of a cursor this module issued; None for none or a damaged one (first page)."""
    if not cursor or len(cursor) > 200:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = text.split("|")
    return parts if len(parts) == count else None


@dataclass(frozen=True)
class ListFilters:
    """Filters a form has checked (forms.py); None means not filtered on."""

    currency: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    status: str | None = None


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _latest_payout(field_name: str) -> Subquery:
    latest = Payout.objects.filter(batch=OuterRef("pk")).order_by("-created_at", "-id")
    return Subquery(latest.values(field_name)[:1])


def batches_page(
    *, user: Any, filters: ListFilters, after: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """The user's batches, newest period first, each with its latest payout's id and status."""
    batches: QuerySet[SettlementBatch] = batches_visible_to(user)
    if filters.currency:
        batches = batches.filter(currency=filters.currency)
    if filters.date_from:
        batches = batches.filter(period_end__gte=filters.date_from)
    if filters.date_to:
        batches = batches.filter(period_end__lte=filters.date_to)
    if filters.amount_min_minor is not None:
        batches = batches.filter(net_minor__gte=filters.amount_min_minor)
    if filters.amount_max_minor is not None:
        batches = batches.filter(net_minor__lte=filters.amount_max_minor)
    position = decode_cursor(after, 2)
    if position:
        try:
            period_end = dt.date.fromisoformat(position[0])
        except ValueError:
            period_end = None
        if period_end:
            # The first bound alone lets the index start at the cursor (an OR alone is checked
            # row by row from the newest); the second breaks ties.
            batches = batches.filter(period_end__lte=period_end).filter(
                Q(period_end__lt=period_end) | Q(currency__lt=position[1])
            )
    rows = list(
        batches.annotate(
            payout_id=_latest_payout("id"), payout_status=_latest_payout("status")
        ).order_by("-period_end", "-currency")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return Page(rows, encode_cursor(last.period_end.isoformat(), last.currency) if last else None)


def payouts_page(
    *, user: Any, filters: ListFilters, after: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """The user's payouts, newest first."""
    payouts: QuerySet[Payout] = payouts_visible_to(user)
    if filters.currency:
        payouts = payouts.filter(currency=filters.currency)
    if filters.status:
        payouts = payouts.filter(status=filters.status)
    # Whole UTC days, as bounds on the timestamp (so the (seller, created_at) index serves them).
    if filters.date_from:
        payouts = payouts.filter(created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        payouts = payouts.filter(created_at__lt=day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.amount_min_minor is not None:
        payouts = payouts.filter(amount_minor__gte=filters.amount_min_minor)
    if filters.amount_max_minor is not None:
        payouts = payouts.filter(amount_minor__lte=filters.amount_max_minor)
    position = decode_cursor(after, 2)
    if position:
        try:
            created_at = dt.datetime.fromisoformat(position[0])
            payout_id = uuid.UUID(position[1])
        except ValueError:
            created_at = None
        if created_at and created_at.tzinfo:
            payouts = payouts.filter(created_at__lte=created_at).filter(
                Q(created_at__lt=created_at) | Q(id__lt=payout_id)
            )
    rows = list(payouts.order_by("-created_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return Page(rows, encode_cursor(last.created_at.isoformat(), str(last.id)) if last else None)


def batches_in_range(
    *, user: Any, date_from: dt.date, date_to: dt.date, currency: str | None = None
) -> list[SettlementBatch]:
    """The user's batches whose period ends in [date_from, date_to], oldest first (an export)."""
    batches = batches_visible_to(user).filter(period_end__gte=date_from, period_end__lte=date_to)
    if currency:
        batches = batches.filter(currency=currency)
    return list(batches.order_by("period_end", "currency"))
