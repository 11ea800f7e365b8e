"""A sale paid out to the seller's bank, with both sides' acknowledgements asked (what the
payout's notification task does), for the two-sided confirmation tests."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from accounts import dashboard_keys
from core import crypto
from settlement.confirmations.models import Acknowledgement, AckSide
from settlement.confirmations.services import acknowledgements_request
from settlement.models import Payout
from tests.accounts.factories import PASSWORD
from tests.lifecycle.accept_fixtures import KeyPool, own_keys
from tests.settlement.receipt_fixtures import Sale, accepted_sale, paid_out


@dataclass
class PaidSale:
    sale: Sale
    payout: Payout
    seller_ack: Acknowledgement
    buyer_ack: Acknowledgement


def paid_sale(key_pool: KeyPool) -> PaidSale:
    sale = accepted_sale(key_pool)
    payout = paid_out(sale)
    acknowledgements_request(payout.pk)
    return PaidSale(
        sale=sale,
        payout=payout,
        seller_ack=Acknowledgement.objects.get(payout=payout, side=AckSide.SELLER),
        buyer_ack=Acknowledgement.objects.get(payout=payout, side=AckSide.BUYER),
    )


def seller_signature(key_pool: KeyPool, paid: PaidSale, message: bytes | None = None) -> dict:
    """An answer body signed by a new signing key of the seller's own (over the statement, or
    over `message`)."""
    keys = own_keys(key_pool, paid.sale.seller)
    signed = bytes(paid.seller_ack.statement) if message is None else message
    signature = crypto.sign(keys.signing_private, signed, algorithm=crypto.ED25519)
    return {
        "answer": "received",
        "key_id": str(keys.signing.pk),
        "signature": base64.b64encode(signature).decode(),
    }


def with_dashboard_keys(seller) -> None:
    dashboard_keys.dashboard_keys_ensure(seller=seller, password=PASSWORD)
