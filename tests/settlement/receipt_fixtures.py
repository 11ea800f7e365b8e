"""Orders for the receipt tests, taken through the real flows with the lifecycle tests' helpers:
placed and paid by card (tests/lifecycle/accept_fixtures.py), accepted with the seller's own
signing key, shipped, confirmed by the buyer; optionally paid out to the seller's bank
(tests/settlement's fake bank)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import User
from core import crypto
from ledger import seals
from ledger.published import keys_document
from payments.fulfilment.acceptance import sub_order_accept
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.models import Order, SealedOrderDocument, SubOrder
from settlement.batches import create_batches
from settlement.maturation import mature_due
from settlement.models import Payout
from settlement.payouts import services as payouts
from settlement.release.services import sub_order_confirm
from tests.accounts.factories import SellerFactory
from tests.lifecycle.accept_fixtures import (
    KeyPool,
    make_buyer,
    make_product,
    own_keys,
    pay_by_card,
    place_order,
    sub_order_of,
)
from tests.settlement.fake_bank import FakeBank


@dataclass
class Sale:
    buyer: User
    seller: User
    order: Order
    sub_order: SubOrder


def accepted_sale(
    key_pool: KeyPool,
    *,
    algorithm: str = crypto.ED25519,
    ship: bool = True,
    confirm: bool = True,
    sellers: int = 1,
) -> Sale:
    """A card order (2 x 12.50 EUR per seller) the first seller accepted by signing its order
    document with its own key; then shipped and confirmed by the buyer unless told otherwise."""
    buyer = make_buyer()
    shop = [SellerFactory() for _ in range(sellers)]
    order = place_order(buyer, [(make_product(seller, price=1250), 2) for seller in shop])
    pay_by_card(order, buyer)
    seller = shop[0]
    keys = own_keys(key_pool, seller, algorithm=algorithm, encryption=True)
    sub_order = sub_order_of(order, seller)
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = crypto.sign(keys.signing_private, document.document_bytes, algorithm=algorithm)
    sub_order_accept(
        sub_order_id=sub_order.pk,
        seller=seller,
        key_id=keys.signing.pk,
        signature_b64=base64.b64encode(signature).decode(),
        actor=f"seller:{seller.pk}",
    )
    if ship:
        sub_order_mark_shipped(
            sub_order_id=sub_order.pk, seller=seller, actor=f"seller:{seller.pk}"
        )
    if ship and confirm:
        sub_order_confirm(sub_order_id=sub_order.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")
    sub_order.refresh_from_db()
    order.refresh_from_db()
    return Sale(buyer=buyer, seller=seller, order=order, sub_order=sub_order)


def paid_out(sale: Sale) -> Payout:
    """The confirmed sale's release (held by the release itself) matured once its hold is over,
    batched and paid to the seller's bank."""
    after_hold = timezone.now() + dt.timedelta(days=3)
    mature_due(now=after_hold)
    (batch,) = create_batches(day=after_hold.date(), sellers=[sale.seller.pk])
    (payout_id,) = payouts.create_payouts([batch.pk])
    bank = FakeBank()
    payouts.submit(payout_id, bank)
    return payouts.apply_bank_answer(bank.settle(payout_id.hex, "paid"))


def sealed() -> None:
    """What the beat's seal task does."""
    seals.ledger_seal()


def keys_bytes() -> bytes:
    return json.dumps(keys_document()).encode()


def later(days: int = 1) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)
