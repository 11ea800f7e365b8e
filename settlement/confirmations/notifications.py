"""Asking for an acknowledgement, and reminding (the push half; the pull half is the pages and
`GET /api/v1/acknowledgements?waiting=1`):

  - the seller: a signed webhook (payout.acknowledgement_requested / _reminder) and an email,
    each once per acknowledgement (topic "ack:<id>:asked" / "ack:<id>:reminder", unique per
    endpoint and recipient);
  - the buyer: an order event (order.acknowledgement_requested / _reminder) on the sub-order,
    once, which shows on the order page and is mailed to the buyer by the event fan-out.

ask() is idempotent and stamps `asked_at`; the sweeper asks again for any left unstamped.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ledger.canonical_transfer import format_time as time_text
from payments import conf
from payments.emails.sending import send_seller_email
from payments.orders.events import (
    ORDER_ACK_REMINDER,
    ORDER_ACK_REQUESTED,
    PAYOUT_ACK_REMINDER,
    PAYOUT_ACK_REQUESTED,
    record_order_event,
)
from payments.orders.models import OrderEvent
from payments.webhooks.deliveries import webhook_dispatch_seller_event
from settlement.confirmations.models import Acknowledgement, AckSide, AckState

logger = logging.getLogger(__name__)


def _payload(ack: Acknowledgement) -> dict[str, Any]:
    payout = ack.payout
    data: dict[str, Any] = {
        "acknowledgement_id": str(ack.pk),
        "payout_id": str(payout.pk),
        "currency": payout.currency,
        "bank_reference": payout.bank_reference,
        "due_at": time_text(ack.due_at),
        "statement_sha256": ack.statement_sha256,
        "page_url": str(conf.get("PAYMENTS_PUBLIC_BASE_URL")).rstrip("/")
        + reverse("settlement:acknowledgements"),
    }
    if ack.side == AckSide.SELLER:
        data["amount_minor"] = payout.amount_minor
    return data


def ask(ack_id: uuid.UUID | str, *, reminder: bool = False) -> bool:
    """Ask (or remind) the party of a pending acknowledgement; True if anything was sent now."""
    with transaction.atomic():
        ack = (
            Acknowledgement.objects.select_for_update(of=("self",))
            .select_related("payout", "payout__seller", "sub_order", "sub_order__order")
            .get(pk=ack_id)
        )
        if ack.state != AckState.PENDING or (not reminder and ack.asked_at is not None):
            return False
        data = _payload(ack)
        sent = False
        if ack.side == AckSide.SELLER:
            kind = PAYOUT_ACK_REMINDER if reminder else PAYOUT_ACK_REQUESTED
            topic = f"ack:{ack.pk}:{'reminder' if reminder else 'asked'}"
            sent = bool(
                webhook_dispatch_seller_event(
                    seller_id=ack.payout.seller_id,
                    kind=kind,
                    topic=topic,
                    payload=data,
                    occurred_at=timezone.now(),
                )
            )
        else:
            kind = ORDER_ACK_REMINDER if reminder else ORDER_ACK_REQUESTED
            told = OrderEvent.objects.filter(
                kind=kind, sub_order=ack.sub_order, data__acknowledgement_id=str(ack.pk)
            ).exists()
            if not told:
                buyer_data = {**data, "amount_minor": _paid_minor(ack)}
                record_order_event(
                    order=ack.sub_order.order,
                    sub_order=ack.sub_order,
                    kind=kind,
                    actor="system",
                    data=buyer_data,
                )
                sent = True
        if not reminder:
            Acknowledgement.objects.filter(pk=ack.pk).update(asked_at=timezone.now())
    if ack.side == AckSide.SELLER:
        # Mailed after commit (no SMTP call under the row lock); once per (topic, recipient).
        email = send_seller_email(seller=ack.payout.seller, kind=kind, topic=topic, data=data)
        sent = sent or email is not None
    logger.info("acknowledgement %s (%s): %s, sent=%s", ack.pk, ack.side, kind, sent)
    return sent


def _paid_minor(ack: Acknowledgement) -> int | None:
    """What the payout carried of the buyer's order, as its statement says."""
    value = json.loads(bytes(ack.statement)).get("paid_to_seller_minor")
    return value if isinstance(value, int) else None
