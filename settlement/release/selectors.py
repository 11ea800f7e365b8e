"""A seller's money on each of its orders: what was captured, refunded, the platform's fee, the
net, and when the net becomes available for payout. Read-only, for the seller's order pages
(shown through settlement_tags, so payments does not import settlement).

Before the buyer confirms receipt the fee is the seller's plan applied to what escrow holds (an
estimate: refunds before release lower it); after, it is the fee charged (SubOrder.fee_minor).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.money import Money
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.orders.models import SubOrder, SubOrderStatus
from settlement.fees import fee_for
from settlement.holds import hold_terms_for
from settlement.models import HeldRelease
from settlement.release.services import release_transfer_id


@dataclass(frozen=True)
class SellerPartMoney:
    captured_minor: int
    refunded_minor: int
    fee_minor: int
    net_minor: int
    fee_is_final: bool  # False: an estimate, until escrow is released to the seller
    available_at: dt.datetime | None  # when the net leaves `pending` (None: not released yet)
    available_now: bool
    hold_days: int  # how long released money waits in pending, for this seller's plan


def seller_parts_money(sub_orders: list[SubOrder]) -> dict[int, SellerPartMoney]:
    """Per sub-order id, its money as the seller sees it (three queries for the whole list)."""
    if not sub_orders:
        return {}
    refunded: dict[int, tuple[int, int]] = {s.pk: (0, 0) for s in sub_orders}
    for sub_order_id, source, amount in (
        Refund.objects.filter(sub_order__in=sub_orders)
        .exclude(status=RefundStatus.FAILED)
        .values_list("sub_order_id", "source", "amount_minor")
    ):
        total, escrow = refunded[sub_order_id]
        if source == RefundSource.HOLD_RELEASE:
            continue  # a hold released was never taken
        refunded[sub_order_id] = (
            total + amount,
            escrow + (amount if source == RefundSource.ESCROW else 0),
        )
    holds = {
        held.release_transfer_id: held
        for held in HeldRelease.objects.filter(
            release_transfer_id__in=[release_transfer_id(s.pk, "release:net") for s in sub_orders]
        )
    }
    now = dt.datetime.now(dt.UTC)
    parts = {}
    for sub_order in sub_orders:
        total_refunded, escrow_refunded = refunded[sub_order.pk]
        captured = sub_order.captured_minor or 0
        # Before capture (a card hold), the sale's amount is what will be captured.
        ended = sub_order.status in (SubOrderStatus.REJECTED, SubOrderStatus.CANCELLED)
        base = captured or (0 if ended else sub_order.amount_minor)
        final = sub_order.fee_minor is not None
        if final:
            fee = sub_order.fee_minor
        else:
            released = Money(max(base - escrow_refunded, 0), sub_order.currency)
            fee = fee_for(sub_order.seller, released).amount_minor
        held = holds.get(release_transfer_id(sub_order.pk, "release:net"))
        parts[sub_order.pk] = SellerPartMoney(
            captured_minor=captured,
            refunded_minor=total_refunded,
            fee_minor=fee,
            net_minor=max(base - total_refunded - fee, 0),
            fee_is_final=final,
            available_at=held.due_at if held else None,
            available_now=bool(held and (held.matured_at or held.due_at <= now)),
            hold_days=hold_terms_for(sub_order.seller).hold.days,
        )
    return parts


def seller_part_money(sub_order: Any) -> SellerPartMoney:
    return seller_parts_money([sub_order])[sub_order.pk]
