"""Verified bank callbacks are acted on once, by their id; an unknown payout changes nothing."""

import datetime as dt
import uuid

import pytest
from django.test import override_settings

from core.errors import NotFound
from settlement.gateways.base import BankCallback
from settlement.models import BankCallbackReceipt, PayoutStatus
from settlement.payouts.callbacks import handle
from settlement.payouts.services import submit
from tests.accounts.factories import SellerFactory
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import PLANS
from tests.settlement.test_payouts import a_payout, balances

pytestmark = pytest.mark.django_db


def callback(answer, callback_id=None):
    return BankCallback(
        callback_id=callback_id or f"msg_{uuid.uuid4().hex}",
        kind="transfer",
        occurred_at=dt.datetime.now(dt.UTC),
        transfer=answer,
    )


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_paid_callback_pays_once_and_its_duplicate_is_acknowledged_without_effect():
    seller = SellerFactory()
    payout = a_payout(seller, 2_000)
    bank = FakeBank()
    submit(payout.pk, bank)
    paid = callback(bank.settle(payout.bank_id, "paid"), "msg_1")
    assert handle(paid) == "applied"
    assert handle(paid) == "duplicate"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert balances(seller)["paid_out"] == 2_000


def test_a_callback_for_an_unknown_payout_changes_nothing():
    bank = FakeBank()
    from settlement.gateways.base import TransferResult

    stranger = TransferResult(
        status="paid",
        payout_id=uuid.uuid4().hex,
        bank_reference="X",
        amount_minor=5,
        currency="EUR",
    )
    with pytest.raises(NotFound):
        handle(callback(stranger, "msg_unknown"))
    assert not BankCallbackReceipt.objects.filter(callback_id="msg_unknown").exists()
    assert bank.submits == 0
