"""Transfer callbacks due together travel as one signed request, and the platform applies such a
batch once per callback id, in one transaction, whatever copies and strangers it holds."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from ledger.verification import verify_ledger
from sandbox_bank.callbacks import CallbackDispatcher, enqueue, signed_headers
from sandbox_bank.config import BankConfig
from sandbox_bank.faults import Faults, Knobs
from sandbox_bank.store import Database, utc_now
from settlement.gateways.base import InvalidBankCallback, TransferResult
from settlement.gateways.sandbox import MAX_BATCH_CALLBACKS, SandboxBankGateway
from settlement.models import BankCallbackReceipt, PayoutStatus
from settlement.payouts.callbacks import handle_batch
from settlement.payouts.services import submit
from tests.accounts.factories import SellerFactory
from tests.settlement.bank_process import CallbackInbox
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_bank_callbacks import callback
from tests.settlement.test_batches import PLANS
from tests.settlement.test_payouts import a_payout, balances


def _gateway() -> SandboxBankGateway:
    return SandboxBankGateway(
        base_url="http://127.0.0.1:9",
        signing_key=settings.CLEARHOUSE_BANK_SIGNING_KEY,
        webhook_secret=settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
        timeout_s=1.0,
    )


def _transfer(status: str = "paid", amount_minor: int = 1_000) -> dict:
    return {
        "payout_id": uuid.uuid4().hex,
        "bank_reference": f"SBK{uuid.uuid4().hex[:8]}",
        "status": status,
        "amount_minor": amount_minor,
        "currency": "EUR",
    }


def _signed(payload: dict, webhook_id: str | None = None) -> tuple[dict, bytes]:
    body = json.dumps(payload, separators=(",", ":"))
    headers = signed_headers(
        settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
        webhook_id or f"msg_{uuid.uuid4().hex}",
        body,
        at=utc_now(),
    )
    return headers, body.encode()


def _batch(*items: dict) -> dict:
    return {"type": "batch", "timestamp": utc_now().isoformat(), "data": {"callbacks": list(items)}}


def _item(data: dict, event_type: str = "transfer.paid", item_id: str | None = None) -> dict:
    return {
        "id": item_id or f"msg_{uuid.uuid4().hex}",
        "type": event_type,
        "timestamp": utc_now().isoformat(),
        "data": data,
    }


# --- the bank sends them ------------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path):
    inbox = CallbackInbox()
    inbox.start()
    db = Database(tmp_path / "bank.sqlite3")
    db.create_schema()
    config = BankConfig(
        db_path=tmp_path / "bank.sqlite3",
        webhook_secret=settings.CLEARHOUSE_BANK_WEBHOOK_SECRET,
        callback_url=inbox.url,
        callback_retry_base_ms=1,
        callback_retry_max_ms=1,
        callback_batch=50,
    )
    faults = Faults(Knobs())
    try:
        yield inbox, db, CallbackDispatcher(db, config, faults), faults
    finally:
        db.close()
        inbox.stop()


def test_transfer_callbacks_due_together_go_as_one_signed_request_and_keep_their_ids(outbox):
    inbox, db, dispatcher, faults = outbox
    with db.write() as connection:
        ids = [
            enqueue(connection, faults, event_type="transfer.paid", data=_transfer())
            for _ in range(3)
        ]
        incoming = enqueue(
            connection,
            faults,
            event_type="incoming.credited",
            data={"reference": "RF18539007547034", "amount_minor": 500, "currency": "EUR"},
        )

    assert dispatcher.deliver_one()  # the three transfers together
    assert dispatcher.deliver_one()  # the incoming credit alone
    assert not dispatcher.deliver_one()

    batch, alone = inbox.received
    callbacks = _gateway().handle_callbacks(headers=batch.headers, body=batch.body)
    assert [c.callback_id for c in callbacks] == ids
    assert batch.webhook_id not in ids  # the request has an id of its own
    assert {c.transfer.status for c in callbacks} == {"paid"}
    assert alone.webhook_id == incoming
    assert _gateway().handle_callbacks(headers=alone.headers, body=alone.body)[0].kind == (
        "incoming"
    )


def test_a_refused_batch_is_retried_callback_by_callback(outbox):
    inbox, db, dispatcher, faults = outbox
    with db.write() as connection:
        ids = [
            enqueue(connection, faults, event_type="transfer.paid", data=_transfer())
            for _ in range(2)
        ]
    inbox.fail_next = 1
    assert dispatcher.deliver_one()  # refused: both wait for a retry
    assert inbox.received == []
    time.sleep(0.01)
    assert dispatcher.deliver_one()
    assert dispatcher.deliver_one()
    assert sorted(item.webhook_id for item in inbox.received) == sorted(ids)  # one request each
    with db.read() as connection:
        states = connection.execute("SELECT status, attempts FROM callbacks").fetchall()
    assert [tuple(row) for row in states] == [("delivered", 2), ("delivered", 2)]


# --- the gateway reads them ----------------------------------------------------------------------


def test_a_batch_is_read_only_by_handle_callbacks():
    headers, body = _signed(_batch(_item(_transfer())))
    with pytest.raises(InvalidBankCallback, match="handle_callbacks"):
        _gateway().handle_callback(headers=headers, body=body)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (_batch(), "1 to"),
        (_batch(*[_item(_transfer()) for _ in range(MAX_BATCH_CALLBACKS + 1)]), "1 to"),
        (_batch(_item(_transfer(), event_type="incoming.credited")), "transfer callbacks only"),
        (_batch({**_item(_transfer()), "id": ""}), "no valid id"),
        (_batch({**_item(_transfer()), "id": "x" * 129}), "no valid id"),
        (_batch(_item(_transfer(status="paid"), event_type="transfer.rejected")), "disagree"),
        (_batch("not a callback"), "no data"),
    ],
    ids=["empty", "too-many", "incoming", "no-id", "long-id", "type-status", "not-an-object"],
)
def test_a_malformed_batch_is_refused_whole(batch, message):
    headers, body = _signed(batch)
    with pytest.raises(InvalidBankCallback, match=message):
        _gateway().handle_callbacks(headers=headers, body=body)


def test_a_batch_with_a_wrong_signature_is_refused_before_it_is_read():
    headers, body = _signed(_batch(_item(_transfer())))
    with pytest.raises(InvalidBankCallback, match="does not verify"):
        _gateway().handle_callbacks(headers=headers, body=body.replace(b"paid", b"PAID"))


# --- the platform applies them -------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_batch_pays_each_payout_once_with_copies_and_strangers_left_out():
    sellers = [SellerFactory() for _ in range(2)]
    payouts = [
        a_payout(seller, amount) for seller, amount in zip(sellers, (2_000, 3_500), strict=True)
    ]
    bank = FakeBank()
    for payout in payouts:
        submit(payout.pk, bank)
    paid = [
        callback(bank.settle(p.bank_id, "paid"), f"msg_paid_{i}") for i, p in enumerate(payouts)
    ]
    stranger = callback(TransferResult("paid", uuid.uuid4().hex, "X", 5, "EUR"), "msg_stranger")

    outcomes = handle_batch([paid[0], paid[1], paid[0], stranger])

    assert outcomes == {
        "msg_paid_0": "applied",
        "msg_paid_1": "applied",
        "msg_stranger": "unknown_payout",
    }
    for payout, seller in zip(payouts, sellers, strict=True):
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.PAID
        assert list(payout.events.values_list("kind", flat=True)) == ["submitted", "paid"]
        assert balances(seller)["available_after_pending"] == 0
    assert balances(sellers[0]) | {"available": 0} == {
        "available": 0,
        "available_after_pending": 0,
        "in_transit": 0,
        "paid_out": 5_500,
    }
    assert not BankCallbackReceipt.objects.filter(callback_id="msg_stranger").exists()
    # The same callbacks again, in another batch: nothing more happens.
    assert handle_batch(paid) == {"msg_paid_0": "duplicate", "msg_paid_1": "duplicate"}
    assert balances(sellers[0])["paid_out"] == 5_500
    assert verify_ledger().ok


@pytest.mark.django_db
@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_the_callback_endpoint_answers_a_signed_batch_with_each_outcome(client):
    seller = SellerFactory()
    payout = a_payout(seller, 4_200)
    bank = FakeBank()
    submit(payout.pk, bank)
    answer = bank.settle(payout.bank_id, "paid")
    data = {
        "payout_id": answer.payout_id,
        "bank_reference": answer.bank_reference,
        "status": "paid",
        "amount_minor": answer.amount_minor,
        "currency": answer.currency,
    }
    first, second = _item(data), _item(_transfer())
    headers, body = _signed(_batch(first, second))
    url = reverse("settlement:bank-callback")

    answered = client.post(
        url,
        body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )

    assert answered.status_code == 200
    assert answered.json()["outcomes"] == {first["id"]: "applied", second["id"]: "unknown_payout"}
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert balances(seller)["paid_out"] == 4_200
