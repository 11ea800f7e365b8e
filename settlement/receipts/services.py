"""Issuing receipts, and the receipt file that buyers, sellers and auditors hold.

    receipt_issue(sub_order_id=...)   the sub-order's current receipt: the latest one issued if the
                                      facts have not changed since, else a new one (signed, stored,
                                      put in the ledger's log) that supersedes it
    receipt_file(receipt)             the receipt, the platform's signature and, once a seal covers
                                      its log record, the inclusion proof and that signed tree head
    visible_sub_order_id(...)         which sub-order's receipt a user asks for (404 if not theirs)

Why on request: a receipt is the platform's signed statement of what it knows about the order at
the time it is issued. Issuing when asked (and only when the facts changed since the last one)
needs no hook in the payment flow, never serves a stale receipt, and asking again returns the same
receipt byte for byte. The two-sided confirmation issues the receipt again whenever an
acknowledgement closes (settlement.acknowledgement_record); the issue that finds the
confirmation record complete stores it (settlement.confirmations.records) and so makes the
receipt final.

Issuing takes one transaction-scoped advisory lock per sub-order: no payments row is locked, so
this cannot deadlock with the payment services' lock order.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import crypto, signing_keys
from core.canonical import canonical_json
from core.errors import Conflict, NotFound, ValidationError
from ledger import seals
from ledger.published import tree_head_json
from ledger.records import log_record_append
from payments.flows.selectors import is_platform_staff
from payments.models import SubOrder
from settlement.confirmations.records import record_store
from settlement.receipts.facts import ReceiptNotAvailable, sub_order_facts
from settlement.receipts.format import (
    FILE_FORMAT,
    LOG_RECORD_KIND,
    content_sha256,
    receipt_content,
    sha256_hex,
    with_issue_fields,
)
from settlement.receipts.models import Receipt

MAX_SUB_ORDERS = 100


class ReceiptUnavailable(Conflict):
    """Nothing has been paid for this order yet: there is no receipt."""

    code = "receipt_not_available"


class SubOrderRequired(ValidationError):
    """The order has several sellers, each with its own receipt: name one."""

    code = "receipt_sub_order_required"


def _lock(sub_order_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"clearhouse:receipt:{sub_order_id}"],
        )


def latest_receipt(sub_order_id: int) -> Receipt | None:
    return Receipt.objects.filter(sub_order_id=sub_order_id).order_by("-sequence").first()


def receipt_issue(*, sub_order_id: int) -> Receipt:
    """The sub-order's current receipt, issuing a new one if the facts changed (see above)."""
    with transaction.atomic():
        _lock(sub_order_id)
        try:
            facts = sub_order_facts(sub_order_id)
        except ReceiptNotAvailable:
            raise ReceiptUnavailable(
                "This order has not been paid: there is no receipt yet."
            ) from None
        content = receipt_content(facts)
        # A complete confirmation record is stored (and logged) once, as the receipt embeds it.
        record_store(sub_order=facts.sub_order, record=content["confirmation_record"])
        digest = content_sha256(content)
        latest = latest_receipt(sub_order_id)
        if latest is not None and latest.content_sha256 == digest:
            return latest
        issued_at = timezone.now()
        published = signing_keys.signing_key_for_signature(at=issued_at)
        receipt_id = uuid.uuid4()
        sequence = latest.sequence + 1 if latest else 1
        body = canonical_json(
            with_issue_fields(
                content,
                receipt_id=receipt_id,
                sequence=sequence,
                issued_at=issued_at,
                supersedes=(latest.pk, latest.sha256) if latest else None,
            )
        )
        key_id, signature = crypto.platform_sign(body)
        assert key_id == published.key_id, (key_id, published.key_id)
        receipt = Receipt.objects.create(
            id=receipt_id,
            sub_order_id=sub_order_id,
            sequence=sequence,
            status=content["status"],
            content_sha256=digest,
            body=body,
            sha256=sha256_hex(body),
            key_id=key_id,
            signature=signature,
            issued_at=issued_at,
        )
        # The next seal covers it; the receipt file then carries the proof.
        log_record_append(
            record_id=receipt_id, kind=LOG_RECORD_KIND, payload=body, created_at=issued_at
        )
    return receipt


def _inclusion(receipt: Receipt) -> dict | None:
    """The proof against the first seal that covers the receipt's record: it never changes, so
    the receipt file is the same every time it is fetched (an auditor can ask for a consistency
    proof from that tree head to any later one)."""
    position = seals.record_log_position(receipt.pk)
    seal = seals.first_seal_covering(position[0]) if position else None
    if seal is None:
        return None
    proof = seals.record_inclusion_proof(receipt.pk, seal)
    return {
        "log_index": proof.leaf_index,
        "leaf_hash": proof.leaf_hash.hex(),
        "audit_path": [value.hex() for value in proof.audit_path],
        "tree_head": tree_head_json(seal),
    }


def receipt_file(receipt: Receipt) -> dict:
    """The receipt file (docs/receipts.md, "The receipt file")."""
    return {
        "format": FILE_FORMAT,
        "receipt": json.loads(bytes(receipt.body)),
        "signature": {
            "key_id": receipt.key_id,
            "algorithm": signing_keys.ALGORITHM,
            "value": base64.b64encode(bytes(receipt.signature)).decode("ascii"),
        },
        "inclusion": _inclusion(receipt),
    }


def visible_sub_orders(user: Any, order_id: Any) -> list[SubOrder]:
    """The order's sub-orders whose receipts `user` may have: the buyer all of theirs, a seller
    its own part, staff all."""
    sub_orders = SubOrder.objects.filter(order_id=order_id).select_related("seller", "order")
    if not is_platform_staff(user):
        sub_orders = sub_orders.filter(Q(order__buyer_id=user.pk) | Q(seller_id=user.pk))
    return list(sub_orders.order_by("id")[:MAX_SUB_ORDERS])


def visible_sub_order_id(user: Any, order_id: Any, sub_order_id: int | None) -> int:
    """The sub-order whose receipt is asked for. Another's order is NotFound, as if it did not
    exist; an order with several visible sellers needs `sub_order_id`."""
    ids = [sub_order.pk for sub_order in visible_sub_orders(user, order_id)]
    if not ids or (sub_order_id is not None and sub_order_id not in ids):
        raise NotFound("No such order.")
    if sub_order_id is not None:
        return sub_order_id
    if len(ids) > 1:
        raise SubOrderRequired(
            "This order has several sellers, each with its own receipt: "
            f"name one with ?sub_order= ({', '.join(map(str, ids))}).",
            field="sub_order",
            extra={"sub_orders": ids},
        )
    return ids[0]


def parse_sub_order_param(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValidationError("sub_order must be a sub-order id (a number).", field="sub_order")
    return int(value)
