"""The bank's "paid" arriving after its "returned": an older answer delivered late (the paid
callback retried after the return's was applied, as the drill sees when the web server was down)
changes nothing and is no case; a "paid" the bank says came after the return is a case. Through
the callback endpoint, with callbacks as the sandbox bank writes and signs them."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from ledger.verification import verify_ledger
from sandbox_bank.callbacks import signed_headers
from sandbox_bank.store import iso, utc_now
from settlement.models import PayoutStatus
from settlement.payouts.services import submit
from tests.accounts.factories import SellerFactory
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import PLANS
from tests.settlement.test_payouts import a_payout, balances

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plans")]

RETURN_DELAY = dt.timedelta(milliseconds=1_500)


@pytest.fixture
def plans():
    with override_settings(CLEARHOUSE_FEE_PLANS=PLANS):
        yield


def transfer_data(payout, status: str, *, paid_at: dt.datetime, returned_at=None) -> dict:
    """The transfer as the sandbox bank tells it (sandbox_bank.banking.transfer_json)."""
    returned = returned_at is not None
    return {
        "payout_id": payout.bank_id,
        "bank_reference": "SBT0001",
        "status": status,
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "failure_code": "closed_account" if returned else "",
        "failure_message": "The account was closed after the credit." if returned else "",
        "accepted_at": iso(paid_at - dt.timedelta(milliseconds=300)),
        "paid_at": iso(paid_at),
        "rejected_at": None,
        "returned_at": iso(returned_at) if returned else None,
    }


def post(client, event_type: str, data: dict, *, at: dt.datetime, callback_id: str):
    """One callback, as the bank's outbox wrote it at `at` and signs it now (a retry)."""
    body = json.dumps(
        {"type": event_type, "timestamp": iso(at), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    headers = signed_headers(
        settings.CLEARHOUSE_BANK_WEBHOOK_SECRET, callback_id, body, at=utc_now()
    )
    answer = client.post(
        reverse("settlement:bank-callback"),
        body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def returned_payout(client, *, with_state_times: bool = True):
    seller = SellerFactory()
    payout = a_payout(seller, 6_100)
    submit(payout.pk, FakeBank())
    paid_at = utc_now() - dt.timedelta(seconds=5)
    returned_at = paid_at + RETURN_DELAY
    paid = transfer_data(payout, "paid", paid_at=paid_at)
    returned = transfer_data(payout, "returned", paid_at=paid_at, returned_at=returned_at)
    if not with_state_times:  # then the callback's own time is the change's
        for data in (paid, returned):
            del data["paid_at"], data["returned_at"]
    post(client, "transfer.returned", returned, at=returned_at, callback_id="msg_returned")
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED
    return seller, payout, paid, paid_at


@pytest.mark.parametrize("with_state_times", [True, False], ids=["state_times", "callback_time"])
def test_a_paid_callback_retried_after_the_return_was_applied_changes_nothing(
    client, with_state_times
):
    # The "paid" callback failed while the web server was down; the bank's retries brought it in
    # after the "returned" one (the drill's cases, seed 11).
    seller, payout, paid, paid_at = returned_payout(client, with_state_times=with_state_times)
    before = balances(seller)

    outcome = post(client, "transfer.paid", paid, at=paid_at, callback_id="msg_paid")

    assert outcome == {"received": True, "outcome": "applied"}
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED
    assert not payout.events.filter(kind="contradiction").exists()
    assert (
        balances(seller)
        == before
        == {
            "available": 6_100,
            "available_after_pending": 6_100,
            "in_transit": 0,
            "paid_out": 0,
        }
    )
    assert verify_ledger().ok


def test_a_paid_callback_the_bank_says_came_after_the_return_is_a_case(client):
    seller, payout, _, _ = returned_payout(client)
    before = balances(seller)
    later = utc_now()
    paid_again = transfer_data(payout, "paid", paid_at=later)

    post(client, "transfer.paid", paid_again, at=later, callback_id=f"msg_{uuid.uuid4().hex}")

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED
    (case,) = payout.events.filter(kind="contradiction")
    assert (case.data["bank"], case.data["status"]) == ("paid", "returned")
    assert balances(seller) == before
