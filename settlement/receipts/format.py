"""The receipt format, version 1 (specified in docs/receipts.md): plain objects built from a
sub-order's facts. The signed bytes are core.canonical.canonical_json of the receipt object.

    receipt_content(facts)         the receipt without its issue fields (what decides whether a
                                   new receipt is due)
    with_issue_fields(...)         the whole receipt: id, sequence, supersedes, issued_at
    confirmation_record(facts)     the record that binds both sides by hash; embedded in the
                                   receipt, and its SHA-256 in `confirmation_record_hash`

Times are UTC ISO 8601 with microseconds and a Z, as in the ledger's tree heads.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

from core.canonical import canonical_json
from ledger.canonical_transfer import format_time as time_text
from payments.models import RefundStatus
from settlement.models import PayoutStatus
from settlement.receipts.facts import SubOrderFacts

RECEIPT_TYPE = "clearhouse.receipt"
RECORD_TYPE = "clearhouse.confirmation_record"
FORMAT_VERSION = 1
FILE_FORMAT = "clearhouse.receipt.v1"
# The kind of the ledger log record that holds a receipt's signed bytes.
LOG_RECORD_KIND = "receipt"
ISSUE_FIELDS = ("receipt_id", "sequence", "supersedes", "issued_at")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _acknowledgement(payouts_paid: bool) -> dict:
    """Until the two-sided confirmation exists, an acknowledgement is asked for once a payout of
    the sub-order is paid ("pending"), and not before ("absent")."""
    return {"state": "pending" if payouts_paid else "absent", "at": None, "signature": None}


def _buyer_confirmation(facts: SubOrderFacts) -> dict:
    confirmation = facts.confirmation
    return {
        "state": confirmation.state,
        "at": time_text(confirmation.at),
        "by": confirmation.by,
        # The buyer confirms with a click today; a signed confirmation goes here (docs).
        "signature": None,
    }


def _payouts(facts: SubOrderFacts) -> list[dict]:
    return [
        {
            "id": str(payout.pk),
            "status": payout.status,
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "bank_reference": payout.bank_reference or None,
            "paid_at": time_text(payout.paid_at),
        }
        for payout in facts.payouts
    ]


def confirmation_record(facts: SubOrderFacts) -> dict:
    """The confirmation record of the sub-order as things stand (docs/receipts.md)."""
    acceptance = facts.acceptance
    paid = any(p.status == PayoutStatus.PAID for p in facts.payouts)
    seller_ack, buyer_ack = _acknowledgement(paid), _acknowledgement(paid)
    complete = all(a["state"] in ("given", "lapsed") for a in (seller_ack, buyer_ack))
    return {
        "type": RECORD_TYPE,
        "v": FORMAT_VERSION,
        "order_id": str(facts.order.pk),
        "sub_order_id": facts.sub_order.pk,
        "state": "complete" if complete else "open",
        # The record this one corrects, by hash (a correction is a new record).
        "corrects": None,
        "order_document_sha256": acceptance.document_sha256 if acceptance else None,
        "acceptance_signature_sha256": sha256_hex(acceptance.signature) if acceptance else None,
        "accepted_at": time_text(acceptance.accepted_at) if acceptance else None,
        "buyer_confirmation": _buyer_confirmation(facts),
        "payouts": _payouts(facts),
        "seller_acknowledgement": seller_ack,
        "buyer_acknowledgement": buyer_ack,
    }


def _acceptance(facts: SubOrderFacts) -> dict | None:
    acceptance = facts.acceptance
    if acceptance is None:
        return None
    return {
        "accepted_at": time_text(acceptance.accepted_at),
        "order_document_sha256": acceptance.document_sha256,
        "signature": {
            "signer": "seller",
            "algorithm": acceptance.key.algorithm,
            "public_key_pem": acceptance.key.public_pem,
            "key_fingerprint": acceptance.key.fingerprint,
            # The exact bytes signed: the canonical order document.
            "message": _b64(acceptance.document),
            "value": _b64(acceptance.signature),
        },
    }


def _amounts(facts: SubOrderFacts) -> dict:
    sub_order = facts.sub_order
    refunded = sum(r.amount_minor for r in facts.refunds if r.status == RefundStatus.SUCCEEDED)
    fee = sub_order.fee_minor
    return {
        "total_minor": sub_order.amount_minor,
        "captured_minor": sub_order.captured_minor,
        "refunded_minor": refunded,
        # Null until escrow is released to the seller (the fee is taken then).
        "fee_minor": fee,
        "net_to_seller_minor": None if fee is None else sub_order.captured_minor - refunded - fee,
    }


def receipt_content(facts: SubOrderFacts) -> dict:
    """The receipt's object without ISSUE_FIELDS."""
    order, sub_order, payment = facts.order, facts.sub_order, facts.payment
    record = confirmation_record(facts)
    complete = record["state"] == "complete"
    return {
        "type": RECEIPT_TYPE,
        "v": FORMAT_VERSION,
        "status": "final" if complete else "provisional",
        "order": {
            "id": str(order.pk),
            "number": order.number,
            "created_at": time_text(order.created_at),
        },
        # One seller's part of the order: what this receipt is of.
        "sub_order": {"id": sub_order.pk, "status": sub_order.status},
        "buyer": {"id": facts.buyer.id, "display_name": facts.buyer.display_name},
        "seller": {"id": facts.seller.id, "display_name": facts.seller.display_name},
        "currency": sub_order.currency,
        "items": [
            {
                "title": line.title,
                "unit_price_minor": line.unit_price_minor,
                "quantity": line.quantity,
                "amount_minor": line.amount_minor,
            }
            for line in facts.lines
        ],
        "amounts": _amounts(facts),
        "payment": {"id": str(payment.pk), "method": payment.method, "status": payment.status}
        if payment
        else None,
        "refunds": [
            {
                "id": str(refund.pk),
                "amount_minor": refund.amount_minor,
                "status": refund.status,
                "source": refund.source,
                "reason": refund.reason,
                "created_at": time_text(refund.created_at),
            }
            for refund in facts.refunds
        ],
        "times": {
            "ordered_at": time_text(order.created_at),
            "accepted_at": time_text(sub_order.accepted_at),
            "shipped_at": time_text(sub_order.shipped_at),
            "confirmed_at": time_text(sub_order.confirmed_at),
        },
        "acceptance": _acceptance(facts),
        "buyer_confirmation": _buyer_confirmation(facts),
        "ledger_transfer_ids": [str(pk) for pk in facts.transfer_ids],
        "confirmation_record": record,
        "confirmation_record_hash": sha256_hex(canonical_json(record)),
    }


def content_sha256(content: dict) -> str:
    return sha256_hex(canonical_json(content))


def with_issue_fields(
    content: dict,
    *,
    receipt_id: uuid.UUID,
    sequence: int,
    issued_at: dt.datetime,
    supersedes: tuple[uuid.UUID, str] | None,
) -> dict:
    """The whole receipt; `supersedes` is (id, sha256 of the signed bytes) of the one before."""
    return {
        **content,
        "receipt_id": str(receipt_id),
        "sequence": sequence,
        "supersedes": {"receipt_id": str(supersedes[0]), "sha256": supersedes[1]}
        if supersedes
        else None,
        "issued_at": time_text(issued_at),
    }
