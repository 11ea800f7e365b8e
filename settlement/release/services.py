"""Release of escrow to the seller: the buyer confirms receipt, or the window lapses (beat), or
staff resolve a dispute for the seller (payments calls release_escrow through
payments.fulfilment.confirmation, which SettlementConfig.ready() fills in).

    escrow release   platform:escrow -> seller:<id>:pending   (net)
                     platform:escrow -> platform:fees         (fee, settlement.fees.fee_for)

One linked ledger batch per sub-order; transfer ids are uuid5(sub-order, "release:net" /
"release:fee") in ledger.chart.RELEASE_TRANSFERS, so a replay writes nothing. What is released is
the sub-order's captured amount minus the refunds already paid out of escrow. A refund still in
flight (pending) holds the release back: the buyer is asked to try again shortly and the beat task
retries next minute, so escrow is never split between a release and an unsettled refund.

Who may confirm and when is the payments half (payments.fulfilment.confirmation): once the seller
has accepted (shipped or not), never while a dispute is open.
Lock order: Payment -> SubOrder -> ledger accounts (payments/orders/sub_order_state.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict, TryAgainLater
from core.money import Money
from ledger import chart
from ledger.services import TransferRequest, create_transfers
from payments.fulfilment.confirmation import (
    CONFIRMABLE,
    buyer_order_id_of,
    check_confirmable,
    lock_order_payment,
)
from payments.fulfilment.models import RefundSource, RefundStatus
from payments.orders.events import (
    ORDER_AUTO_CONFIRMED,
    ORDER_CONFIRMED,
    ORDER_RELEASED,
    record_order_event,
)
from payments.orders.models import SubOrder, SubOrderStatus
from payments.orders.sub_order_state import lock_sub_order, sub_order_transition
from settlement.fees import fee_for
from settlement.holds import hold_release

logger = logging.getLogger(__name__)
SO = SubOrderStatus


class RefundInProgress(TryAgainLater):
    """A refund of this order is being processed; the money is released once it has settled."""

    code = "refund_in_progress"


def release_transfer_id(sub_order_id: Any, step: str) -> uuid.UUID:
    return uuid.uuid5(chart.RELEASE_TRANSFERS, f"sub_order:{sub_order_id}:{step}")


def escrow_refunded_minor(sub_order: SubOrder) -> int:
    """What refunds have already paid out of escrow for this sub-order."""
    return sum(
        sub_order.refunds.filter(
            status=RefundStatus.SUCCEEDED, source=RefundSource.ESCROW
        ).values_list("amount_minor", flat=True)
    )


def release_escrow(
    *, sub_order: SubOrder, actor: str, event: str, data: dict | None = None
) -> SubOrder:
    """Release escrow and mark the sub-order confirmed. The caller holds the Payment and SubOrder
    locks in its transaction and has checked who may do this (payments calls it through
    payments.fulfilment.confirmation.release_escrow: SettlementConfig.ready() registers it)."""
    if sub_order.refunds.filter(status=RefundStatus.PENDING).exists():
        raise RefundInProgress(
            "A refund of this order is being processed; try again in a minute.",
        )
    if sub_order.captured_minor <= 0:
        raise Conflict("Nothing has been captured for this order yet.", code="nothing_captured")
    refunded = escrow_refunded_minor(sub_order)
    releasable = sub_order.captured_minor - refunded
    if releasable <= 0:
        raise Conflict("Everything captured has been refunded.", code="nothing_to_release")
    currency = sub_order.currency
    fee = fee_for(sub_order.seller, Money(releasable, currency)).amount_minor
    net = releasable - fee
    escrow = chart.account(currency=currency, code=chart.ESCROW)
    common = {
        "currency": currency,
        "reference": f"sub_order:{sub_order.pk}",
        "metadata": {
            "order": str(sub_order.order_id),
            "sub_order": sub_order.pk,
            "seller": sub_order.seller_id,
        },
    }
    requests = []
    if net:
        seller = chart.account(currency=currency, code=chart.seller_pending(sub_order.seller_id))
        requests.append(
            TransferRequest(
                id=release_transfer_id(sub_order.pk, "release:net"),
                debit_account_id=escrow,
                credit_account_id=seller,
                amount_minor=net,
                reason="escrow_released",
                **common,
            )
        )
    if fee:
        fees = chart.account(currency=currency, code=chart.FEES)
        requests.append(
            TransferRequest(
                id=release_transfer_id(sub_order.pk, "release:fee"),
                debit_account_id=escrow,
                credit_account_id=fees,
                amount_minor=fee,
                reason="platform_fee",
                **common,
            )
        )
    create_transfers(requests)
    if net:
        # The net waits in pending for the seller plan's hold, then matures (settlement.holds).
        hold_release(
            release_transfer_id=release_transfer_id(sub_order.pk, "release:net"),
            seller=sub_order.seller,
            currency=currency,
            amount_minor=net,
            released_at=timezone.now(),
        )
    amounts = {
        "captured_minor": sub_order.captured_minor,
        "refunded_minor": refunded,
        "released_minor": releasable,
        "net_minor": net,
        "fee_minor": fee,
        "currency": currency,
    }
    sub_order = sub_order_transition(
        sub_order_id=sub_order.pk,
        to_status=SO.CONFIRMED,
        actor=actor,
        event=event,
        fields={"confirmed_at": timezone.now(), "fee_minor": fee},
        data={**amounts, **(data or {})},
    )
    record_order_event(
        order=sub_order.order,
        sub_order=sub_order,
        kind=ORDER_RELEASED,
        actor=actor,
        data={"sub_order": sub_order.pk, "seller": sub_order.seller_id, **amounts},
    )
    return sub_order


def sub_order_confirm(*, sub_order_id: Any, buyer: Any, actor: str) -> SubOrder:
    """The buyer confirms receipt: escrow goes to the seller (less the fee). Another buyer's
    sub-order is NotFound. Confirming again changes nothing."""
    order_id = buyer_order_id_of(sub_order_id=sub_order_id, buyer=buyer)
    with transaction.atomic():
        lock_order_payment(order_id)
        sub_order = lock_sub_order(sub_order_id)
        if sub_order.status == SO.CONFIRMED:
            return sub_order
        check_confirmable(sub_order)
        return release_escrow(sub_order=sub_order, actor=actor, event=ORDER_CONFIRMED)


def sub_order_auto_confirm_due(now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Beat: confirm every sub-order whose window (confirm_by) has lapsed, each in its own
    transaction, re-checked under its lock (the buyer may have confirmed or disputed since)."""
    now = now or timezone.now()
    due = (
        SubOrder.objects.filter(status__in=CONFIRMABLE, confirm_by__lte=now)
        .order_by("confirm_by", "id")
        .values_list("id", "order_id")[:limit]
    )
    counts = {"confirmed": 0, "skipped": 0, "failed": 0}
    for sub_order_id, order_id in list(due):
        try:
            with transaction.atomic():
                lock_order_payment(order_id)
                sub_order = lock_sub_order(sub_order_id)
                if (
                    sub_order.status not in CONFIRMABLE
                    or sub_order.confirm_by is None
                    or sub_order.confirm_by > now
                ):
                    counts["skipped"] += 1
                    continue
                release_escrow(
                    sub_order=sub_order,
                    actor="system",
                    event=ORDER_AUTO_CONFIRMED,
                    data={"confirm_by": sub_order.confirm_by.isoformat()},
                )
            counts["confirmed"] += 1
        except RefundInProgress:
            counts["skipped"] += 1  # next run, once the refund has settled
        except ApplicationError as exc:
            counts["failed"] += 1
            logger.error("auto-confirm of sub-order %s failed: %s", sub_order_id, exc.message)
    return counts
