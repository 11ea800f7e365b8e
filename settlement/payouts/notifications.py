"""A payout's outcome reaches both sides (the push half of step 6), once its final state commits:

  - the seller: an email and a webhook (payout.paid, payout.failed, payout.returned), each once
    per payout and outcome (payments' topic "payout:<id>:<status>" is unique per endpoint and
    per recipient);
  - each buyer whose order money a paid payout carries: an `order.seller_paid` event on the
    sub-order, once per (sub-order, payout), recorded through payments' record_order_event, so it
    shows on the order page and API and fans out like any order event (the buyer's email, the
    seller's webhooks if subscribed).

_finish (services.py) enqueues settlement.payout_notify on commit; the task runs
notify_payout_settled, which is idempotent (safe to run again after a crash or a duplicate
message) and stamps the payout's `notified_at`; the payouts sweeper re-enqueues a final state
left unstamped (a task message lost to a broker outage). Payments is reached through its functions only: it knows the kind names, never
settlement.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.emails.sending import send_seller_email
from payments.orders.events import (
    ORDER_SELLER_PAID,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    PAYOUT_RETURNED,
    record_order_events,
)
from payments.orders.models import OrderEvent, SubOrder
from payments.webhooks.deliveries import webhook_dispatch_seller_event
from settlement.batches import BatchLine, batch_lines, range_lines
from settlement.fx import IN_REASON as FX_IN
from settlement.models import Payout, PayoutStatus

logger = logging.getLogger(__name__)

KINDS = {
    PayoutStatus.PAID: PAYOUT_PAID,
    PayoutStatus.FAILED: PAYOUT_FAILED,
    PayoutStatus.RETURNED: PAYOUT_RETURNED,
}


def _at(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def payout_payload(payout: Payout) -> dict[str, Any]:
    """What the seller's webhook and email say of a payout (the account by its last 4 only)."""
    return {
        "payout_id": str(payout.pk),
        "batch_id": str(payout.batch_id),
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "status": payout.status,
        "bank_reference": payout.bank_reference,
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "iban_last4": payout.iban[-4:],  # "" for a US account: account_last4 covers both
        "account_last4": payout.account_last4,
        "created_at": _at(payout.created_at),
        "submitted_at": _at(payout.submitted_at),
        "paid_at": _at(payout.paid_at),
        "failed_at": _at(payout.failed_at),
        "returned_at": _at(payout.returned_at),
    }


def _occurred_at(payout: Payout) -> dt.datetime:
    return {
        PayoutStatus.PAID: payout.paid_at,
        PayoutStatus.FAILED: payout.failed_at,
        PayoutStatus.RETURNED: payout.returned_at,
    }[payout.status] or payout.updated_at


def sub_order_amounts(payout: Payout) -> dict[tuple[int, str], int]:
    """(sub-order, currency) -> what of that sub-order's money the payout's batch carries, from
    the lines' release metadata. Converted money is followed to the sale-currency lines the
    conversion covered (there the amount is in the sale's currency). Only positive nets count:
    a sub-order with only a refund in the batch was not paid by it."""
    amounts: dict[tuple[int, str], int] = defaultdict(int)

    def add(lines: list[BatchLine], currency: str) -> None:
        for line in lines:
            meta = line.metadata
            if line.reason == FX_IN and "log_from" in meta and "source_currency" in meta:
                source = str(meta["source_currency"])
                add(
                    range_lines(
                        seller_id=payout.seller_id,
                        currency=source,
                        log_from=int(meta["log_from"]),
                        log_to=int(meta["log_to"]),
                    ),
                    source,
                )
                continue
            sub_order = meta.get("sub_order")
            if isinstance(sub_order, int) and sub_order > 0:
                amounts[(sub_order, currency)] += line.amount_minor

    add(batch_lines(payout.batch), payout.batch.currency)
    return {key: minor for key, minor in amounts.items() if minor > 0}


def _tell_buyers(payout: Payout) -> list[OrderEvent]:
    """One order.seller_paid event per sub-order the paid payout carries and not told yet.
    Called under the payout's row lock: two runs cannot both find a sub-order untold."""
    amounts = sub_order_amounts(payout)
    if not amounts:
        return []
    payout_id = str(payout.pk)
    told = set(
        OrderEvent.objects.filter(
            kind=ORDER_SELLER_PAID,
            sub_order_id__in={sub_order for sub_order, _ in amounts},
            data__payout_id=payout_id,
        ).values_list("sub_order_id", "data__currency")
    )
    sub_orders = {
        s.pk: s
        for s in SubOrder.objects.filter(
            pk__in={sub_order for sub_order, _ in amounts}, seller_id=payout.seller_id
        )
        .select_related("order")
        .order_by("pk")
    }
    by_order: dict[Any, list[tuple[str, Any, dict[str, Any]]]] = defaultdict(list)
    for (sub_order_id, currency), minor in sorted(amounts.items()):
        sub_order = sub_orders.get(sub_order_id)
        if sub_order is None or (sub_order_id, currency) in told:
            continue  # not this seller's (never expected), or told by an earlier run
        data = {
            "payout_id": payout_id,
            "paid_at": _at(payout.paid_at),
            "amount_minor": minor,
            "currency": currency,
        }
        by_order[sub_order.order].append((ORDER_SELLER_PAID, sub_order, data))
    recorded: list[OrderEvent] = []
    for order, entries in by_order.items():
        recorded += record_order_events(order=order, actor="system", entries=entries)
    return recorded


def notify_payout_settled(payout_id: uuid.UUID | str) -> dict[str, int]:
    """Tell both sides of a payout's final state; safe to run again (nothing is told twice).
    Returns what was done now: order events recorded, webhook deliveries made, emails sent."""
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(of=("self",))
            .select_related("seller", "batch")
            .get(pk=payout_id)
        )
        if payout.status not in KINDS:
            return {"order_events": 0, "webhooks": 0, "emails": 0}
        kind = KINDS[payout.status]
        topic = f"payout:{payout.pk}:{payout.status}"
        payload = payout_payload(payout)
        events = _tell_buyers(payout) if payout.status == PayoutStatus.PAID else []
        deliveries = webhook_dispatch_seller_event(
            seller_id=payout.seller_id,
            kind=kind,
            topic=topic,
            payload=payload,
            occurred_at=_occurred_at(payout),
        )
    # Mailed after commit: no SMTP call under the payout's lock; idempotent by (topic, recipient).
    email = send_seller_email(seller=payout.seller, kind=kind, topic=topic, data=payload)
    # Told: the sweeper leaves it be (unless the state moved on meanwhile, returned after paid).
    Payout.objects.filter(pk=payout.pk, status=payout.status, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    logger.info(
        "payout %s %s: %d order events, %d webhooks, %d email",
        payout.pk,
        payout.status,
        len(events),
        len(deliveries),
        int(email is not None),
    )
    return {"order_events": len(events), "webhooks": len(deliveries), "emails": int(bool(email))}
