"""The seller's orders list on the dashboard: the seller's paid sub-orders, newest first, filtered
(state, currency, days placed, amount, buyer reference, order number) and read a keyset page at a
time, so a page costs the same at any history size:

- no filter, or days and amounts: the (seller, created_at) index, newest first, from the cursor;
- a state: the (seller, status, created_at) index;
- a buyer reference: the (seller, buyer_reference, created_at) index;
- an order number: the prefix of the orders' unique number (its pattern index).

An amount range alone is checked row by row along the newest-first index: a page reads as many
orders as it takes to find a page's worth in the range (most amounts are in most ranges).

The cursor is the last row's (created_at, id); new orders arrive at the top, so paging down
never shows a row twice or skips one, whatever is placed meanwhile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from payments.models import SubOrder, SubOrderStatus
from settlement.dashboard.selectors import PAGE_SIZE, Page, day_start, decode_cursor, encode_cursor
from settlement.release.selectors import SellerPartMoney, seller_parts_money

# Order numbers are "CH-" and ten characters; a search needs a few of them (fewer would read
# most of the platform's orders through the number index).
ORDER_NUMBER_PREFIX = "CH-"
MIN_SEARCH = 4
# States a seller's list shows: an order not paid yet is not the seller's business.
LISTED_STATES = [
    (value, label)
    for value, label in SubOrderStatus.choices
    if value != SubOrderStatus.AWAITING_PAYMENT
]


# What a row shows (the order's documents, addresses and metadata are not read for a list).
_SHOWN = (
    "id", "order_id", "seller_id", "amount_minor", "currency", "status", "accept_by",
    "confirm_by", "created_at", "buyer_reference", "order__number", "captured_minor", "fee_minor",
    "confirmed_at",
)  # fmt: skip


@dataclass(frozen=True)
class OrderFilters:
    """Filters a form has checked (forms.OrderFilterForm); None means not filtered on."""

    status: str | None = None
    currency: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    buyer_reference: str | None = None
    number: str | None = None  # a prefix of the order number, "CH-" optional, in capitals


def _number_prefixes(number: str) -> list[str]:
    if number.startswith(ORDER_NUMBER_PREFIX):
        return [number]
    return [number, ORDER_NUMBER_PREFIX + number]


def orders_page(
    *, seller_id: Any, filters: OrderFilters, after: str | None = None, limit: int | None = None
) -> Page:
    """The seller's orders (its sub-orders), newest first, a keyset page (PAGE_SIZE unless
    `limit`) after the cursor."""
    limit = limit or PAGE_SIZE
    rows = SubOrder.objects.filter(seller_id=seller_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    else:
        rows = rows.exclude(status=SubOrderStatus.AWAITING_PAYMENT)
    if filters.currency:
        rows = rows.filter(currency=filters.currency)
    # Whole UTC days, as bounds on the timestamp (the indexes serve them).
    if filters.date_from:
        rows = rows.filter(created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        rows = rows.filter(created_at__lt=day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.amount_min_minor is not None:
        rows = rows.filter(amount_minor__gte=filters.amount_min_minor)
    if filters.amount_max_minor is not None:
        rows = rows.filter(amount_minor__lte=filters.amount_max_minor)
    if filters.buyer_reference:
        rows = rows.filter(buyer_reference=filters.buyer_reference)
    if filters.number:
        by_number = Q()
        for prefix in _number_prefixes(filters.number):
            by_number |= Q(order__number__startswith=prefix)
        rows = rows.filter(by_number)
    position = _cursor(after)
    if position:
        created_at, sub_order_id = position
        # The first bound alone lets the index start at the cursor; the second breaks ties.
        rows = rows.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(id__lt=sub_order_id)
        )
    found = list(
        rows.select_related("order").only(*_SHOWN).order_by("-created_at", "-id")[: limit + 1]
    )
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more and found else None
    return Page(found, encode_cursor(last.created_at.isoformat(), str(last.pk)) if last else None)


def _cursor(after: str | None) -> tuple[dt.datetime, int] | None:
    """A cursor this module issued, or None (a damaged one is the first page, not an error)."""
    parts = decode_cursor(after, 2)
    if not parts:
        return None
    try:
        created_at = dt.datetime.fromisoformat(parts[0])
        sub_order_id = int(parts[1])
    except ValueError:
        return None
    if created_at.tzinfo is None or not 0 < sub_order_id < 2**63:
        return None
    return created_at, sub_order_id


def with_money(
    sub_orders: list[SubOrder], *, seller: Any
) -> list[tuple[SubOrder, SellerPartMoney]]:
    """Each of the page's orders with its fee, net and when it becomes available
    (settlement.release.selectors: two queries for the page). The page is one seller's: its plan
    is read once from `seller`, not once per row."""
    for sub_order in sub_orders:
        sub_order.seller = seller
    parts = seller_parts_money(sub_orders)
    return [(sub_order, parts[sub_order.pk]) for sub_order in sub_orders]
