"""Demo receipts for `manage.py seed_demo` (kept apart from the payouts' demo data so the two
merge cleanly): the demo's completed orders get their receipts issued and sealed, and those whose
seller has been paid get both acknowledgements (the demo seller signs with its demo key, the demo
buyer clicks), so their receipts are final.

    seed_demo_completed_order(buyer, seller)   one completed order through the real flows (paid
                                               by the sandbox card, accepted with the seller's
                                               demo key, shipped, confirmed), unless the demo
                                               already has one between them
    seed_demo_receipts()                       receipts of every completed demo order: the paid-
                                               out ones acknowledged by both sides, then sealed

Idempotent: an order, an acknowledgement and an unchanged receipt are each made once.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from django.utils import timezone

from accounts.demo import demo_private_key_pem
from accounts.models import KeyPurpose, User
from accounts.selectors import seller_active_keys
from core import crypto
from demo.payout_history import DemoSale, make_sale
from ledger.seals import ledger_seal
from payments.catalog.models import Product
from payments.models import SubOrder, SubOrderStatus
from settlement.confirmations.models import Acknowledgement, AckSide, AckState
from settlement.confirmations.services import (
    acknowledgement_record,
    acknowledgements_request,
    buyer_acknowledge,
    seller_acknowledge,
)
from settlement.models import PayoutStatus
from settlement.receipts.facts import sub_order_facts
from settlement.receipts.models import ReceiptStatus
from settlement.receipts.services import ReceiptUnavailable, receipt_issue

logger = logging.getLogger(__name__)

# The sandbox card provider's always-approved test card (payments/providers/sandbox_card.py).
DONE = (SubOrderStatus.CONFIRMED,)


@dataclass(frozen=True)
class DemoReceipts:
    receipts: int
    final: int
    acknowledged: int


def _demo_signing_key(seller: User) -> tuple[str, str, str] | None:
    """(key id, private PEM, algorithm) of the seller's demo signing key (seed_demo keeps its
    private half)."""
    for key in seller_active_keys(seller=seller, purpose=KeyPurpose.SIGNING).filter(
        demo_material__isnull=False
    )[:5]:
        try:
            private_pem = demo_private_key_pem(key)
        except crypto.CryptoError:
            continue
        if private_pem:
            return str(key.pk), private_pem, key.algorithm
    return None


def _completed(buyers: list[User], sellers: list[User]):
    return SubOrder.objects.filter(
        order__buyer__in=buyers, seller__in=sellers, status__in=DONE
    ).select_related("order", "seller", "order__buyer")


def seed_demo_completed_order(*, buyer: User, seller: User) -> SubOrder | None:
    """A completed order of `buyer` from `seller`, made through the real flows if the demo has
    none between them yet; None if the seller has no product or no demo key to accept with."""
    existing = _completed([buyer], [seller]).order_by("created_at").first()
    if existing is not None:
        return existing
    # Two of the seller's dearest product: enough to reach a demo seller's minimum payout.
    product = Product.objects.filter(seller=seller, stock__gte=2).order_by("-price_minor").first()
    signing = _demo_signing_key(seller)
    if product is None or signing is None:
        return None
    # The same steps the payout history takes its sales through (demo/payout_history.py).
    sub_order = make_sale(
        DemoSale(seller.email, buyer.email, ((product.title, 2),)), until="confirmed"
    )
    sub_order.refresh_from_db()
    return sub_order


def _acknowledge(payout_id, buyers: list[User]) -> int:
    """Both demo sides acknowledge a paid payout (seller: its demo key; buyer: a click)."""
    acknowledgements_request(payout_id)
    done = 0
    pending = Acknowledgement.objects.filter(
        payout_id=payout_id, state=AckState.PENDING, due_at__gt=timezone.now()
    ).select_related("payout__seller", "party")
    for ack in pending:
        if ack.side == AckSide.SELLER:
            signing = _demo_signing_key(ack.payout.seller)
            if signing is None:
                continue
            key_id, private_pem, algorithm = signing
            signature = crypto.sign(private_pem, bytes(ack.statement), algorithm=algorithm)
            seller_acknowledge(
                ack_id=ack.pk,
                seller=ack.payout.seller,
                key_id=key_id,
                signature_b64=base64.b64encode(signature).decode("ascii"),
            )
        elif ack.party is not None and ack.party in buyers:
            buyer_acknowledge(ack_id=ack.pk, buyer=ack.party)
        else:
            continue
        acknowledgement_record(ack.pk)
        done += 1
    return done


def seed_demo_receipts(*, buyers: list[User], sellers: list[User]) -> DemoReceipts:
    """Receipts of the demo's completed orders (see the module docstring), then a seal so that
    they carry their inclusion proofs."""
    sub_orders = list(_completed(buyers, sellers).order_by("created_at", "pk"))
    acknowledged = 0
    payout_ids: set = set()
    for sub_order in sub_orders:
        for payout in sub_order_facts(sub_order.pk).payouts:
            if payout.status == PayoutStatus.PAID:
                payout_ids.add(payout.pk)
    for payout_id in sorted(payout_ids, key=str):
        acknowledged += _acknowledge(payout_id, buyers)
    receipts = []
    for sub_order in sub_orders:
        try:
            receipts.append(receipt_issue(sub_order_id=sub_order.pk))
        except ReceiptUnavailable:
            continue
    if receipts:
        ledger_seal()
    final = sum(1 for receipt in receipts if receipt.status == ReceiptStatus.FINAL)
    logger.info("demo receipts: %d issued, %d final", len(receipts), final)
    return DemoReceipts(receipts=len(receipts), final=final, acknowledged=acknowledged)
