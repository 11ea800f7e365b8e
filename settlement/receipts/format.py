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
import json
import uuid

from core.canonical import canonical_json
from ledger.canonical_transfer import format_time as time_text
from payments.models import RefundStatus
from settlement.confirmations.models import Acknowledgement
from settlement.models import PayoutStatus
from settlement.receipts.facts import SubOrderFacts

RECEIPT_TYPE = "clearhouse.receipt"
RECORD_TYPE = "clearhouse.confirmation_record"
FORMAT_VERSION = 1
FILE_FORMAT = "clearhouse.receipt.v1"
# The kind of the ledger log record that holds a receipt's signed bytes.
LOG_RECORD_KIND = "receipt"
# The kind of the log record that holds a complete confirmation record's canonical bytes.
RECORD_LOG_KIND = "confirmation_record"
ISSUE_FIELDS = ("receipt_id", "sequence", "supersedes", "issued_at")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# The states of an acknowledgement that close it: the record waits on no other.
CLOSED_ACK_STATES = ("given", "lapsed", "resolved")


def _acknowledgement(ack: Acknowledgement | None, *, asked: bool) -> dict:
    """One side's acknowledgement of one payout (docs/receipts.md, "Acknowledgements"): "absent"
    while nothing is asked of that side, "pending" once asked, then as answered."""
    if ack is None:
        return {
            "state": "pending" if asked else "absent",
            "at": None,
            "answer": None,
            "statement_sha256": None,
            "signature": None,
            "case": None,
        }
    signature = None
    if ack.signature:
        signature = {
            "signer": ack.signer,
            "algorithm": ack.algorithm,
            "public_key_pem": ack.public_pem,
            "key_fingerprint": ack.key_fingerprint,
            # The exact bytes signed: the statement the platform asked to be acknowledged.
            "message": _b64(bytes(ack.statement)),
            "value": _b64(bytes(ack.signature)),
        }
    case = None
    if ack.state in ("disputed", "resolved"):
        case = {
            "opened_at": time_text(ack.answered_at),
            "resolved_at": time_text(ack.case_resolved_at),
        }
    return {
        "state": ack.state,
        "at": time_text(ack.closed_at) if ack.state != "pending" else None,
        "answer": ack.answer or None,
        "statement_sha256": ack.statement_sha256,
        "signature": signature,
        "case": case,
    }


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
    entries = []
    for payout in facts.payouts:
        asked = payout.status == PayoutStatus.PAID
        key = str(payout.pk)
        entries.append(
            {
                "id": key,
                "status": payout.status,
                "amount_minor": payout.amount_minor,
                "currency": payout.currency,
                "bank_reference": payout.bank_reference or None,
                "paid_at": time_text(payout.paid_at),
                "seller_acknowledgement": _acknowledgement(
                    facts.acknowledgements.get((key, "seller")), asked=asked
                ),
                "buyer_acknowledgement": _acknowledgement(
                    facts.acknowledgements.get((key, "buyer")), asked=asked
                ),
            }
        )
    return entries


def _completed_at(payouts: list[dict]) -> str | None:
    """When the record completed (the last acknowledgement of a paid payout to close), or None
    while it is open: at least one payout paid, and both sides of every paid payout closed."""
    paid = [entry for entry in payouts if entry["status"] == PayoutStatus.PAID]
    acks = [entry[f"{side}_acknowledgement"] for entry in paid for side in ("seller", "buyer")]
    if not paid or any(ack["state"] not in CLOSED_ACK_STATES for ack in acks):
        return None
    return max(ack["at"] for ack in acks)


def confirmation_record(facts: SubOrderFacts) -> dict:
    """The confirmation record of the sub-order as things stand (docs/receipts.md). Once stored
    (complete), the stored record is returned as it was logged while the facts stay the same;
    new facts make a new record whose `corrects` names the stored one."""
    acceptance = facts.acceptance
    payouts = _payouts(facts)
    completed_at = _completed_at(payouts)
    record = {
        "type": RECORD_TYPE,
        "v": FORMAT_VERSION,
        "order_id": str(facts.order.pk),
        "sub_order_id": facts.sub_order.pk,
        "state": "open" if completed_at is None else "complete",
        "completed_at": completed_at,
        # The record this one corrects, by hash (a correction is a new record).
        "corrects": None,
        "order_document_sha256": acceptance.document_sha256 if acceptance else None,
        "acceptance_signature_sha256": sha256_hex(acceptance.signature) if acceptance else None,
        "accepted_at": time_text(acceptance.accepted_at) if acceptance else None,
        "buyer_confirmation": _buyer_confirmation(facts),
        "payouts": payouts,
    }
    stored = facts.stored_record
    if stored is None:
        return record
    logged = json.loads(bytes(stored.body))
    if {**logged, "corrects": None} == record:
        return logged
    record["corrects"] = stored.sha256
    return record


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
