"""What each side signs to acknowledge a paid payout (docs/receipts.md, "Acknowledgements"), and
the platform-held key that signs a buyer's click.

    payout_statement(payout, order_ids)     the seller's: amount, currency, bank reference, paid
                                            time and the ids of the orders the payout covers
    order_statement(payout, sub_order, ...)  a buyer's: the order's final record as paid out
    acknowledgement_window(seller)          how long either side has (per seller plan)
    buyer_key(user_id)                      the buyer's platform-held Ed25519 key pair

Both statements are canonical JSON with a `type`, so a signature over one can never pass for the
other (nor for an order document or a receipt). They are fixed when the acknowledgement is asked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings

from core import crypto
from core.canonical import canonical_json
from ledger.canonical_transfer import format_time as time_text
from settlement.fees import fee_plans, plan_name_for

PAYOUT_STATEMENT_TYPE = "clearhouse.payout_statement"
ORDER_STATEMENT_TYPE = "clearhouse.order_statement"
STATEMENT_VERSION = 1
DEFAULT_ACKNOWLEDGE_DAYS = 7
# Asked again this long before the window closes.
REMIND_BEFORE = dt.timedelta(days=1)


def acknowledgement_window(seller: Any) -> dt.timedelta:
    """The seller plan's "acknowledge_days" (default 7): the window of both sides of its payouts."""
    plan = fee_plans().get(plan_name_for(seller)) or {}
    days = plan.get("acknowledge_days", DEFAULT_ACKNOWLEDGE_DAYS)
    return dt.timedelta(days=days)


def payout_statement(*, payout: Any, seller_party_id: str, order_ids: list[uuid.UUID]) -> bytes:
    return canonical_json(
        {
            "type": PAYOUT_STATEMENT_TYPE,
            "v": STATEMENT_VERSION,
            "payout_id": str(payout.pk),
            "seller": seller_party_id,
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "bank_reference": payout.bank_reference or None,
            "paid_at": time_text(payout.paid_at),
            "order_ids": sorted(str(order_id) for order_id in set(order_ids)),
        }
    )


def order_statement(
    *,
    payout: Any,
    sub_order: Any,
    buyer_party_id: str,
    paid_minor: int,
    order_document_sha256: str | None,
) -> bytes:
    order = sub_order.order
    return canonical_json(
        {
            "type": ORDER_STATEMENT_TYPE,
            "v": STATEMENT_VERSION,
            "order_id": str(order.pk),
            "order_number": order.number,
            "sub_order_id": sub_order.pk,
            "buyer": buyer_party_id,
            "currency": sub_order.currency,
            "total_minor": sub_order.amount_minor,
            "captured_minor": sub_order.captured_minor,
            "order_document_sha256": order_document_sha256,
            "payout_id": str(payout.pk),
            # What of this order's money the payout carried to the seller.
            "paid_to_seller_minor": paid_minor,
            "paid_at": time_text(payout.paid_at),
        }
    )


def buyer_key(user_id: int) -> tuple[str, str]:
    """(private PEM, public PEM) of the buyer's platform-held acknowledgement key: derived from
    the platform's secret and the buyer, so no private key is stored; only the platform can sign
    with it, and only when the signed-in buyer clicks. The receipt carries its public half."""
    seed = crypto.hmac_sha256(
        settings.SECRET_KEY.encode(), f"clearhouse:buyer-ack-key:v1:{user_id}".encode()
    )
    return crypto.signing_key_from_seed(seed)
