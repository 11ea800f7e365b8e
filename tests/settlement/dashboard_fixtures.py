"""Data for the seller dashboard's tests, made through the ledger and settlement's own services:
sub-orders, captures attributed to them, releases and their maturation, a batch and its payout."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from django.utils import timezone

from ledger import chart
from ledger.services import TransferRequest, create_transfers
from payments.models import Order, SubOrder, SubOrderStatus
from payments.orders.buyer_reference import buyer_reference_for
from settlement.batches import create_batches
from settlement.maturation import mature_due
from settlement.models import Payout, SettlementBatch
from settlement.payouts import services
from tests.accounts.factories import SellerFactory
from tests.settlement.factories import released
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import PLANS, refund_from_available


def sub_order_for(
    seller,
    *,
    amount_minor: int = 1_000,
    currency: str = "EUR",
    status: str = SubOrderStatus.CONFIRMED,
    number: str | None = None,
    buyer_email: str = "buyer@example.com",
    created_at: dt.datetime | None = None,
) -> SubOrder:
    """A sub-order of the seller in its own order (a guest's), placed now or at `created_at`."""
    order = Order.objects.create(
        number=number or f"CH-{uuid.uuid4().hex[:10].upper()}",
        buyer_email=buyer_email,
        currency=currency,
        total_minor=amount_minor,
        status="paid",
    )
    sub_order = SubOrder.objects.create(
        order=order,
        seller=seller,
        amount_minor=amount_minor,
        currency=currency,
        status=status,
        buyer_reference=buyer_reference_for(buyer_id=None, buyer_email=buyer_email),
    )
    if created_at is not None:
        SubOrder.objects.filter(pk=sub_order.pk).update(created_at=created_at)
        sub_order.created_at = created_at
    return sub_order


def captured(seller, amount_minor: int, *, currency: str = "EUR") -> SubOrder:
    """A paid sub-order of the seller and its capture into escrow (as a capture posts it)."""
    sub_order = sub_order_for(seller, amount_minor=amount_minor, currency=currency)
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=chart.account(currency=currency, code=chart.external("test_psp")),
                credit_account_id=chart.account(currency=currency, code=chart.ESCROW),
                amount_minor=amount_minor,
                currency=currency,
                reason="payment_captured",
                metadata={"order": str(sub_order.order_id), "sub_order": sub_order.pk},
            )
        ]
    )
    return sub_order


def sold(seller, gross_minor: int, fee_minor: int, *, currency: str = "EUR") -> SubOrder:
    """Captured, then released to the seller (less the fee) and matured into available."""
    sub_order = captured(seller, gross_minor, currency=currency)
    released(
        seller,
        net_minor=gross_minor - fee_minor,
        fee_minor=fee_minor,
        currency=currency,
        sub_order=sub_order.pk,
    )
    mature_due()
    return sub_order


@dataclass
class Settled:
    seller: object
    batch: SettlementBatch
    payout: Payout
    bank: FakeBank


def settle(seller, *, day: dt.date | None = None, bank_says: str = "paid") -> Settled:
    """Today's batch of the seller, paid out through the payout services and a fake bank."""
    (batch,) = create_batches(day=day or timezone.localdate(), sellers=[seller.pk])
    (payout_id,) = services.create_payouts([batch.pk])
    bank = FakeBank(settle_as=bank_says)
    services.submit(payout_id, bank)
    return Settled(seller, batch, Payout.objects.get(pk=payout_id), bank)


@pytest.fixture
def fee_plans(settings):
    settings.CLEARHOUSE_FEE_PLANS = PLANS  # no hold, no reserve: sales mature at once


@pytest.fixture
def settled(fee_plans) -> Settled:
    """A German EUR seller: two sales (83.00 and 21.00 gross, 3.00 and 1.00 fees), a refund of
    5.00 from available, one batch of 95.00 net paid to the bank."""
    seller = SellerFactory()
    sold(seller, 8_300, 300)
    sold(seller, 2_100, 100)
    refund_from_available(seller, 500)
    return settle(seller)
