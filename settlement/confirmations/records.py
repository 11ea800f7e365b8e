"""Storing a complete confirmation record (docs/receipts.md, "The confirmation record").

    record_store(sub_order, record)   called by receipt issuing (settlement.receipts.services),
                                      under its per-sub-order lock, with the record as computed:
                                      stores it once complete, appends it to the ledger's log
                                      (kind "confirmation_record") and tells both sides

A stored record is never changed; new facts later make a new record whose `corrects` is the hash
of the one before (format.confirmation_record). The sha256 is unique, and the caller's advisory
lock serialises the sequence: two acknowledgements closing at once store one record.
"""

from __future__ import annotations

import uuid

from django.urls import reverse

from core import crypto
from core.canonical import canonical_json
from ledger.records import log_record_append
from payments import conf
from payments.orders.events import ORDER_RECORD_COMPLETED, record_order_event
from payments.orders.models import SubOrder
from settlement.confirmations.models import ConfirmationRecord

RECORD_LOG_KIND = "confirmation_record"


def record_store(*, sub_order: SubOrder, record: dict) -> ConfirmationRecord | None:
    """Store `record` if it is complete and not stored yet; the new row, or None."""
    if record.get("state") != "complete":
        return None
    body = canonical_json(record)
    digest = crypto.sha256(body).hex()
    latest = ConfirmationRecord.objects.filter(sub_order=sub_order).order_by("-sequence").first()
    if latest is not None and latest.sha256 == digest:
        return None
    stored = ConfirmationRecord.objects.create(
        id=uuid.uuid4(),
        sub_order=sub_order,
        sequence=latest.sequence + 1 if latest else 1,
        body=body,
        sha256=digest,
    )
    log_record_append(record_id=stored.pk, kind=RECORD_LOG_KIND, payload=body)
    base = str(conf.get("PAYMENTS_PUBLIC_BASE_URL")).rstrip("/")
    receipt_url = base + reverse("settlement:order-receipt", args=[sub_order.order_id])
    record_order_event(
        order=sub_order.order,
        sub_order=sub_order,
        kind=ORDER_RECORD_COMPLETED,
        actor="system",
        data={
            "record_sha256": digest,
            "corrects": record.get("corrects"),
            "receipt_url": f"{receipt_url}?sub_order={sub_order.pk}",
        },
    )
    return stored
