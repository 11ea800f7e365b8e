"""What the platform knows about one sub-order, for its receipt: read-only, from payments (through
payments.models only), the ledger and settlement. No row is locked and nothing is written."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from accounts.models import SellerKey, SellerProfile
from core import crypto
from ledger.models import LogEntry, Transfer
from payments.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    SealedOrderDocument,
    SubOrder,
    SubOrderStatus,
)
from settlement.confirmations.models import Acknowledgement, AckSide, ConfirmationRecord
from settlement.models import Payout, SettlementBatch

# Which event confirmed a sub-order, and so who did: the buyer, the lapsed window, or staff
# deciding a dispute for the seller.
CONFIRMED_BY_EVENT = {
    "order.confirmed": "buyer",
    "order.auto_confirmed": "auto",
    "dispute.resolved": "staff",
}
# The ledger reasons of the transfers that take a release on to the seller's available balance
# (settlement/maturation.py), whose log positions place the release in a settlement batch.
MATURED_REASONS = ("balance_matured", "reserve_released")
# A bound on what one receipt lists (an order has a handful of each in practice).
MAX_ROWS = 500


class ReceiptNotAvailable(Exception):
    """Nothing was paid for this sub-order: there is nothing to receipt."""


@dataclass(frozen=True)
class Party:
    id: str
    display_name: str


@dataclass(frozen=True)
class Acceptance:
    accepted_at: dt.datetime
    document: bytes
    document_sha256: str
    signature: bytes
    key: SellerKey


@dataclass(frozen=True)
class BuyerConfirmation:
    state: str  # confirmed | awaiting | disputed | none
    at: dt.datetime | None
    by: str | None  # buyer | auto | staff


@dataclass(frozen=True)
class SubOrderFacts:
    order: Order
    sub_order: SubOrder
    buyer: Party
    seller: Party
    lines: list[OrderLine]
    payment: Payment | None
    refunds: list[Refund]
    acceptance: Acceptance | None
    confirmation: BuyerConfirmation
    payouts: list[Payout]
    transfer_ids: list[uuid.UUID]
    # (payout id, "seller" | "buyer") -> the acknowledgement asked of that side for this part.
    acknowledgements: dict[tuple[str, str], Acknowledgement]
    # The latest complete confirmation record stored for this part, if any.
    stored_record: ConfirmationRecord | None


def party_id(who: str) -> str:
    """An opaque, stable id for a party (HMAC under the platform's secret): receipts can be told
    apart by party without showing who the party is."""
    digest = crypto.hmac_sha256(
        settings.SECRET_KEY.encode(), f"clearhouse:receipt-party:{who}".encode()
    )
    return "party_" + digest.hex()[:32]


def _buyer(order: Order) -> Party:
    if order.buyer_id:
        who = f"user:{order.buyer_id}"
        name = order.buyer.display_name
    else:
        who = f"guest:{order.buyer_email.lower()}"
        name = ""
    address = order.shipping_address if isinstance(order.shipping_address, dict) else {}
    return Party(id=party_id(who), display_name=name or str(address.get("name") or "Buyer"))


def _seller(sub_order: SubOrder) -> Party:
    profile = SellerProfile.objects.filter(user_id=sub_order.seller_id).first()
    name = (profile.legal_name if profile else "") or sub_order.seller.display_name or "Seller"
    return Party(id=party_id(f"user:{sub_order.seller_id}"), display_name=name)


def is_receiptable(sub_order: SubOrder) -> bool:
    """A receipt exists once the buyer's money was taken or held for the order."""
    return sub_order.captured_minor > 0 or sub_order.order.status in (
        OrderStatus.PAID,
        OrderStatus.COMPLETED,
    )


def _payment(order: Order) -> Payment | None:
    payments = Payment.objects.filter(order=order).order_by("-created_at")
    went_through = payments.filter(status__in=[PaymentStatus.CAPTURED, PaymentStatus.AUTHORIZED])
    return went_through.first() or payments.first()


def _acceptance(sub_order: SubOrder) -> Acceptance | None:
    if not (sub_order.accepted_at and sub_order.acceptance_signature and sub_order.acceptance_key):
        return None
    document = SealedOrderDocument.objects.filter(sub_order=sub_order).first()
    if document is None:
        return None
    return Acceptance(
        accepted_at=sub_order.accepted_at,
        document=document.document_bytes,
        document_sha256=crypto.sha256(document.document_bytes).hex(),
        signature=base64.b64decode(sub_order.acceptance_signature, validate=True),
        key=sub_order.acceptance_key,
    )


def _confirmation(sub_order: SubOrder) -> BuyerConfirmation:
    if sub_order.confirmed_at:
        event = (
            OrderEvent.objects.filter(sub_order=sub_order, kind__in=list(CONFIRMED_BY_EVENT))
            .order_by("-created_at", "-id")
            .values_list("kind", flat=True)
            .first()
        )
        return BuyerConfirmation(
            state="confirmed", at=sub_order.confirmed_at, by=CONFIRMED_BY_EVENT.get(event or "")
        )
    if sub_order.status == SubOrderStatus.DISPUTED:
        return BuyerConfirmation(state="disputed", at=None, by=None)
    if sub_order.status in (
        SubOrderStatus.AWAITING_ACCEPTANCE,
        SubOrderStatus.ACCEPTED,
        SubOrderStatus.SHIPPED,
    ):
        return BuyerConfirmation(state="awaiting", at=None, by=None)
    return BuyerConfirmation(state="none", at=None, by=None)


def _transfers(sub_order: SubOrder, payment_ids: list, refund_ids: list) -> list:
    """The ledger transfers of this sub-order: its holds, captures and voids (by payment), its
    release and fee, its refunds, and its release's maturation. All found by indexed reference."""
    references = [f"payment:{pk}" for pk in payment_ids]
    references += [f"sub_order:{sub_order.pk}"] + [f"refund:{pk}" for pk in refund_ids]
    rows = list(
        Transfer.objects.filter(reference__in=references).values_list("id", "reason", "metadata")[
            :MAX_ROWS
        ]
    )
    # A payment's transfers cover every sub-order of the order: keep this one's.
    mine = [
        (pk, reason)
        for pk, reason, metadata in rows
        if isinstance(metadata, dict) and metadata.get("sub_order") == sub_order.pk
    ]
    releases = [f"release:{pk}" for pk, reason in mine if reason == "escrow_released"]
    matured = list(
        Transfer.objects.filter(reference__in=releases).values_list("id", "reason")[:MAX_ROWS]
    )
    return mine + matured


def _payouts(sub_order: SubOrder, matured_ids: list[uuid.UUID]) -> list[Payout]:
    """The payouts of the settlement batches whose log ranges hold this sub-order's matured
    money (its release may mature in two parts: the net, and later the reserve)."""
    indexes = list(
        LogEntry.objects.filter(transfer_id__in=matured_ids).values_list("index", flat=True)
    )
    batch_ids: set = set()
    for index in indexes:
        batch_ids.update(
            SettlementBatch.objects.filter(
                seller_id=sub_order.seller_id,
                currency=sub_order.currency,
                log_from__lte=index,
                log_to__gt=index,
            ).values_list("id", flat=True)
        )
    if not batch_ids:
        return []
    return list(Payout.objects.filter(batch_id__in=batch_ids).order_by("created_at", "id"))


def _acknowledgements(
    sub_order: SubOrder, payouts: list[Payout]
) -> dict[tuple[str, str], Acknowledgement]:
    rows = Acknowledgement.objects.filter(payout__in=payouts).filter(
        Q(side=AckSide.SELLER) | Q(side=AckSide.BUYER, sub_order=sub_order)
    )
    return {(str(ack.payout_id), ack.side): ack for ack in rows}


def sub_order_facts(sub_order_id: int) -> SubOrderFacts:
    """Everything a receipt of this sub-order states; ReceiptNotAvailable before payment."""
    sub_order = SubOrder.objects.select_related(
        "order", "order__buyer", "seller", "acceptance_key"
    ).get(pk=sub_order_id)
    if not is_receiptable(sub_order):
        raise ReceiptNotAvailable(f"sub-order {sub_order_id} has not been paid")
    order = sub_order.order
    payment = _payment(order)
    refunds = list(Refund.objects.filter(sub_order=sub_order).order_by("created_at", "id"))
    payment_ids = list(Payment.objects.filter(order=order).values_list("id", flat=True))
    transfers = _transfers(sub_order, payment_ids, [r.pk for r in refunds])
    matured = [pk for pk, reason in transfers if reason in MATURED_REASONS]
    payouts = _payouts(sub_order, matured)
    return SubOrderFacts(
        order=order,
        sub_order=sub_order,
        buyer=_buyer(order),
        seller=_seller(sub_order),
        lines=list(OrderLine.objects.filter(sub_order=sub_order).order_by("id")),
        payment=payment,
        refunds=refunds,
        acceptance=_acceptance(sub_order),
        confirmation=_confirmation(sub_order),
        payouts=payouts,
        transfer_ids=sorted({pk for pk, _ in transfers}, key=str),
        acknowledgements=_acknowledgements(sub_order, payouts),
        stored_record=ConfirmationRecord.objects.filter(sub_order=sub_order)
        .order_by("-sequence")
        .first(),
    )
