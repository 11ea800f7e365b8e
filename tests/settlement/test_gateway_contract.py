"""The contract every BankGateway keeps, run against the sandbox bank gateway talking to a real
sandbox bank process (tests/settlement/bank_process.py).

A gateway joins this suite with a harness: what a test needs from its bank beyond the gateway
(open a creditor's account, close it, read a balance, wait for a callback, turn a fault on).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import pytest
from lxml import etree
from schwifty import IBAN
from standardwebhooks.webhooks import Webhook

from settlement.gateways.base import (
    FINAL_TRANSFER_STATUSES,
    BankError,
    BankGateway,
    BankUnavailable,
    CreditTransfer,
    InvalidBankCallback,
)
from settlement.gateways.http import exchange
from settlement.gateways.sandbox import SandboxBankGateway
from tests.settlement.bank_process import (  # noqa: F401  (fixtures)
    ReceivedCallback,
    SandboxBankProcess,
    calm_bank,
    free_port,
    sandbox_bank,
)

pytestmark = [pytest.mark.sandbox_bank, pytest.mark.xdist_group("sandbox_bank")]

CAMT = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
WAIT_S = 10


def new_payout_id() -> str:
    return f"po-{uuid.uuid4().hex[:20]}"


def new_iban() -> str:
    return IBAN.generate(
        "DE", bank_code="37040044", account_code=f"{uuid.uuid4().int % 10**10:010d}"
    ).compact


class SandboxHarness:
    """The sandbox bank's side of the contract tests."""

    def __init__(self, bank: SandboxBankProcess) -> None:
        self.bank = bank
        self.gateway: BankGateway = bank.gateway()
        self.operator = bank.operator()

    def creditor(self, name: str, *, currency: str = "EUR", returns: bool = False) -> str:
        iban = new_iban()
        self.operator.open_account(
            iban=iban, holder_name=name, currency=currency, returns_credits=returns
        )
        return iban

    def close(self, iban: str) -> None:
        self.operator.close_account(iban)

    def balance(self, iban: str) -> int:
        return self.operator.account(iban)["balance_minor"]

    def faults(self, **knobs) -> None:
        self.operator.set_faults(**knobs)

    def callback(self, payout_id: str, status: str, **kwargs) -> ReceivedCallback:
        return self.bank.inbox.for_payout(payout_id, f"transfer.{status}", **kwargs)[0]

    def callbacks(self, payout_id: str, status: str, count: int) -> list[ReceivedCallback]:
        return self.bank.inbox.for_payout(payout_id, f"transfer.{status}", count=count)

    def incoming_callback(self, bank_reference: str) -> ReceivedCallback:
        return self.bank.inbox.wait_for(
            lambda item: (
                item.payload["type"] == "incoming.credited"
                and item.payload["data"]["bank_reference"] == bank_reference
            )
        )[0]

    def webhook_secret(self) -> str:
        from django.conf import settings

        return settings.CLEARHOUSE_BANK_WEBHOOK_SECRET

    def wait_until_settled(self) -> None:
        """No transfer still accepted (every one paid or rejected by now)."""
        deadline = time.monotonic() + WAIT_S
        while list(self.bank.gateway().transfers(status="accepted")):
            assert time.monotonic() < deadline, "transfers still accepted"
            time.sleep(0.05)


@pytest.fixture(params=["sandbox"])
def harness(request) -> SandboxHarness:
    if request.param == "sandbox":
        return SandboxHarness(request.getfixturevalue("calm_bank"))
    raise AssertionError(request.param)


def transfer_to(iban: str, name: str, amount_minor: int = 12_345, currency: str = "EUR"):
    return CreditTransfer(
        payout_id=new_payout_id(),
        amount_minor=amount_minor,
        currency=currency,
        creditor_name=name,
        iban=iban,
        remittance="Clearhouse settlement B-2025-0001",
    )


def final_status(gateway: BankGateway, payout_id: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while True:
        result = gateway.status(payout_id=payout_id)
        assert result is not None
        if result.status in FINAL_TRANSFER_STATUSES:
            return result.status
        assert time.monotonic() < deadline, f"{payout_id} still {result.status}"
        time.sleep(0.05)


# --- submit and status ---------------------------------------------------------------------------


def test_submit_twice_makes_one_transfer_and_one_debit(harness):
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller")

    first = harness.gateway.submit(transfer)
    second = harness.gateway.submit(transfer)

    assert first.payout_id == second.payout_id == transfer.payout_id
    assert first.bank_reference == second.bank_reference
    harness.callback(transfer.payout_id, "paid")
    assert harness.balance(iban) == 12_345
    same = [t for t in harness.bank.gateway().transfers() if t.payout_id == transfer.payout_id]
    assert len(same) == 1


def test_concurrent_submits_of_one_payout_make_one_transfer(harness):
    iban = harness.creditor("Bo Chen")
    transfer = transfer_to(iban, "Bo Chen", 5_000)
    references, errors = [], []

    def submit():
        try:
            references.append(harness.bank.gateway().submit(transfer).bank_reference)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(set(references)) == 1
    harness.callback(transfer.payout_id, "paid")
    assert harness.balance(iban) == 5_000


def test_same_payout_id_with_other_content_is_refused_and_changes_nothing(harness):
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 1_000)
    harness.gateway.submit(transfer)
    harness.callback(transfer.payout_id, "paid")

    with pytest.raises(BankError) as refused:
        harness.gateway.submit(dataclasses.replace(transfer, amount_minor=9_999))

    assert not isinstance(refused.value, BankUnavailable)
    assert refused.value.extra["bank_code"] == "idempotency_key_reused"
    assert harness.gateway.status(payout_id=transfer.payout_id).amount_minor == 1_000
    assert harness.balance(iban) == 1_000


def test_submit_many_answers_each_transfer_once_and_refuses_only_the_bad_one(harness):
    iban = harness.creditor("Anna Müller")
    good = [transfer_to(iban, "Anna Müller", 1_000 * n) for n in (1, 2)]
    bad = dataclasses.replace(transfer_to(iban, "Anna Müller"), iban="DE89370400440532013001")

    first = harness.gateway.submit_many([good[0], bad, good[1]])
    again = harness.gateway.submit_many([good[1], good[0]])

    assert [r.payout_id for r in (first[0], first[2])] == [t.payout_id for t in good]
    assert isinstance(first[1], BankError) and not isinstance(first[1], BankUnavailable)
    assert first[1].extra["bank_code"] == "invalid_iban"
    assert [r.bank_reference for r in again] == [first[2].bank_reference, first[0].bank_reference]
    assert harness.gateway.status(payout_id=bad.payout_id) is None
    for transfer in good:
        assert final_status(harness.gateway, transfer.payout_id) == "paid"
    assert harness.balance(iban) == 3_000


def test_submit_many_refuses_a_reused_payout_id_alone(harness):
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 1_000)
    harness.gateway.submit(transfer)
    other = transfer_to(iban, "Anna Müller", 700)

    results = harness.gateway.submit_many(
        [dataclasses.replace(transfer, amount_minor=9_999), other]
    )

    assert results[0].extra["bank_code"] == "idempotency_key_reused"
    assert results[1].payout_id == other.payout_id
    assert harness.gateway.status(payout_id=transfer.payout_id).amount_minor == 1_000


def test_submit_many_in_an_outage_is_bank_unavailable_with_nothing_answered(harness):
    iban = harness.creditor("Anna Müller")
    transfers = [transfer_to(iban, "Anna Müller", 500) for _ in range(2)]
    harness.faults(error_rate=1.0, error_mode="before")

    with pytest.raises(BankUnavailable) as outage:
        harness.gateway.submit_many(transfers)

    assert outage.value.answered == ()
    harness.faults(error_rate=0.0)
    assert [harness.gateway.status(payout_id=t.payout_id) for t in transfers] == [None, None]


@pytest.mark.parametrize(
    "payload",
    [{}, {"transfers": []}, {"transfers": "x"}, {"transfers": [{}] * 101}],
    ids=["no-list", "empty", "not-a-list", "too-many"],
)
def test_a_malformed_batch_of_transfers_is_refused_whole(harness, payload):
    answer = harness.bank.gateway().request("POST", "/transfers/batch", payload=payload)

    assert answer.status == 422
    assert answer.error_detail()["field"] == "transfers"


def test_a_batch_item_that_is_not_a_transfer_is_refused_alone(harness):
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 800)
    body = {
        "payout_id": transfer.payout_id,
        "amount_minor": 800,
        "currency": "EUR",
        "creditor_name": "Anna Müller",
        "creditor_iban": iban,
    }

    answer = harness.bank.gateway().request(
        "POST", "/transfers/batch", payload={"transfers": ["nonsense", body]}
    )

    results = answer.json()["results"]
    assert [r["status"] for r in results] == [422, 201]
    assert final_status(harness.gateway, transfer.payout_id) == "paid"


def test_status_is_none_for_a_payout_the_bank_never_saw(harness):
    assert harness.gateway.status(payout_id=new_payout_id()) is None


def test_status_right_after_submit_says_accepted(harness):
    harness.faults(settle_delay_ms=3_000)
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller")

    submitted = harness.gateway.submit(transfer)
    status = harness.gateway.status(payout_id=transfer.payout_id)

    assert submitted.status == status.status == "accepted"
    assert (status.amount_minor, status.currency) == (12_345, "EUR")
    assert status.bank_reference == submitted.bank_reference
    assert harness.balance(iban) == 0  # no money moves before settlement


# --- final states --------------------------------------------------------------------------------


def test_paid_reaches_the_platform_by_callback_and_by_status(harness):
    iban = harness.creditor("Anna Müller GmbH")
    transfer = transfer_to(iban, "anna muller", 4_200)  # case, accents, legal form: same party
    harness.gateway.submit(transfer)

    received = harness.callback(transfer.payout_id, "paid")
    callback = harness.gateway.handle_callback(headers=received.headers, body=received.body)

    assert callback.kind == "transfer"
    assert callback.callback_id == received.webhook_id
    assert callback.transfer.status == "paid"
    assert (callback.transfer.payout_id, callback.transfer.amount_minor) == (
        transfer.payout_id,
        4_200,
    )
    assert harness.gateway.status(payout_id=transfer.payout_id).status == "paid"
    assert harness.balance(iban) == 4_200


def test_a_payout_to_a_us_account_is_paid_by_routing_and_account_number(harness):
    # A US account (ABA routing number + account number, no IBAN) of a random number
    account_number = f"{uuid.uuid4().int % 10**12:012d}"
    harness.operator.open_account(
        routing_number="021000021",
        account_number=account_number,
        holder_name="Hudson Goods LLC",
        currency="USD",
    )
    transfer = CreditTransfer(
        payout_id=new_payout_id(),
        amount_minor=6_999,
        currency="USD",
        creditor_name="Hudson Goods LLC",
        iban="",
        routing_number="021000021",
        account_number=account_number,
    )

    assert harness.gateway.submit(transfer).status in ("accepted", "paid")

    assert final_status(harness.gateway, transfer.payout_id) == "paid"
    (account,) = [a for a in harness.operator.accounts() if a["account_number"] == account_number]
    assert (account["routing_number"], account["balance_minor"]) == ("021000021", 6_999)


def test_many_requests_in_a_row_go_over_one_kept_alive_connection(harness):
    iban = harness.creditor("Keep Alive")
    transfers = [transfer_to(iban, "Keep Alive", 100 + n) for n in range(5)]
    for transfer in transfers:
        harness.gateway.submit(transfer)
        harness.gateway.status(payout_id=transfer.payout_id)
    connection = harness.gateway._session._local.connection  # the thread's one connection

    assert connection is not None and connection.sock is not None  # still open: kept alive
    for transfer in transfers:
        assert final_status(harness.gateway, transfer.payout_id) == "paid"
    assert harness.gateway._session._local.connection is connection


@pytest.mark.parametrize("case", ["invalid_account", "closed_account", "name_mismatch"])
def test_refused_transfers_end_rejected_and_move_no_money(harness, case):
    iban = harness.creditor("Anna Müller")
    name = "Anna Müller"
    if case == "invalid_account":
        iban = new_iban()  # a well-formed IBAN nobody holds at the bank
    elif case == "closed_account":
        harness.close(iban)
    else:
        name = "Bob Smith"
    transfer = transfer_to(iban, name)
    harness.gateway.submit(transfer)

    received = harness.callback(transfer.payout_id, "rejected")
    callback = harness.gateway.handle_callback(headers=received.headers, body=received.body)

    assert callback.transfer.status == "rejected"
    assert callback.transfer.failure_code == case
    status = harness.gateway.status(payout_id=transfer.payout_id)
    assert (status.status, status.failure_code) == ("rejected", case)
    if case != "invalid_account":
        assert harness.balance(iban) == 0


def test_returned_after_paid(harness):
    iban = harness.creditor("Carla Rossi", returns=True)
    transfer = transfer_to(iban, "Carla Rossi", 7_700)
    harness.gateway.submit(transfer)

    paid = harness.callback(transfer.payout_id, "paid")
    returned = harness.callback(transfer.payout_id, "returned")

    told_paid = harness.gateway.handle_callback(headers=paid.headers, body=paid.body).transfer
    assert told_paid.status == "paid"
    result = harness.gateway.handle_callback(headers=returned.headers, body=returned.body).transfer
    assert (result.status, result.failure_code) == ("returned", "closed_account")
    status = harness.gateway.status(payout_id=transfer.payout_id)
    assert status.status == "returned"
    assert harness.balance(iban) == 0  # credited, then taken back
    # Every answer carries the bank's own time of the state it reports, the same whichever way
    # it comes: by it a "paid" arriving after the return is known to be the older.
    assert told_paid.occurred_at is not None and result.occurred_at is not None
    assert told_paid.occurred_at < result.occurred_at == status.occurred_at
    assert harness.gateway.submit(transfer).occurred_at == result.occurred_at


def test_returns_after_paid_by_fault_knob(harness):
    harness.faults(return_after_paid_rate=1.0)
    iban = harness.creditor("Dana Ito")
    transfer = transfer_to(iban, "Dana Ito", 300)
    harness.gateway.submit(transfer)

    harness.callback(transfer.payout_id, "returned")

    assert final_status(harness.gateway, transfer.payout_id) == "returned"


# --- callbacks -----------------------------------------------------------------------------------


@pytest.fixture
def paid_callback(harness) -> ReceivedCallback:
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 100)
    harness.gateway.submit(transfer)
    return harness.callback(transfer.payout_id, "paid")


def test_a_tampered_callback_is_refused(harness, paid_callback):
    body = paid_callback.body.replace(b'"amount_minor":100', b'"amount_minor":999')
    assert body != paid_callback.body

    with pytest.raises(InvalidBankCallback):
        harness.gateway.handle_callback(headers=paid_callback.headers, body=body)


def test_a_callback_signed_with_another_secret_is_refused(harness, paid_callback):
    other = harness.bank.gateway(webhook_secret="whsec_" + base64.b64encode(b"x" * 32).decode())

    with pytest.raises(InvalidBankCallback):
        other.handle_callback(headers=paid_callback.headers, body=paid_callback.body)


def test_a_stale_callback_is_refused_even_when_correctly_signed(harness, paid_callback):
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    webhook_id = paid_callback.webhook_id
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(stale.timestamp())),
        "webhook-signature": Webhook(harness.webhook_secret()).sign(
            webhook_id, stale, paid_callback.body.decode()
        ),
    }

    with pytest.raises(InvalidBankCallback):
        harness.gateway.handle_callback(headers=headers, body=paid_callback.body)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_callback_without_its_signature_headers_is_refused(harness, paid_callback, missing):
    headers = {key: value for key, value in paid_callback.headers.items() if key != missing}

    with pytest.raises(InvalidBankCallback):
        harness.gateway.handle_callback(headers=headers, body=paid_callback.body)


def test_a_replayed_callback_is_recognisable_by_its_id(harness, paid_callback):
    first = harness.gateway.handle_callback(headers=paid_callback.headers, body=paid_callback.body)
    again = harness.gateway.handle_callback(headers=paid_callback.headers, body=paid_callback.body)

    assert first.callback_id == again.callback_id == paid_callback.webhook_id


def test_duplicated_callbacks_carry_the_same_id(harness):
    harness.faults(duplicate_callbacks_rate=1.0)
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 100)
    harness.gateway.submit(transfer)

    copies = harness.callbacks(transfer.payout_id, "paid", count=2)

    ids = {
        harness.gateway.handle_callback(headers=c.headers, body=c.body).callback_id for c in copies
    }
    assert ids == {copies[0].webhook_id}
    assert harness.balance(iban) == 100  # told twice, paid once


def test_callbacks_are_retried_until_the_platform_answers_2xx(harness):
    harness.bank.inbox.fail_next = 2
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 100)
    harness.gateway.submit(transfer)

    received = harness.callback(transfer.payout_id, "paid")

    assert harness.bank.inbox.refused == 2
    # The bank records the delivery after the platform has answered: wait for that record.
    deadline = time.monotonic() + 10
    while True:
        outbox = [c for c in harness.operator.callbacks() if c["id"] == received.webhook_id]
        if outbox[0]["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert outbox[0]["attempts"] == 3
    assert outbox[0]["status"] == "delivered"


def test_a_dropped_callback_leaves_the_outcome_to_status(harness):
    harness.faults(drop_callbacks_rate=1.0)
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 100)
    harness.gateway.submit(transfer)

    assert final_status(harness.gateway, transfer.payout_id) == "paid"
    dropped = harness.operator.callbacks(status="dropped")
    assert transfer.payout_id in {c["data"].get("payout_id") for c in dropped}
    with pytest.raises(AssertionError):
        harness.callback(transfer.payout_id, "paid", timeout_s=0.3)


# --- the bank unavailable ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "done"),
    [
        ({"error_rate": 1.0, "error_mode": "before"}, False),
        ({"error_rate": 1.0, "error_mode": "after"}, True),
        ({"timeout_rate": 1.0, "timeout_mode": "before", "hang_ms": 1500}, False),
        ({"timeout_rate": 1.0, "timeout_mode": "after", "hang_ms": 1500}, True),
    ],
    ids=["5xx-before", "5xx-after", "timeout-before", "timeout-after"],
)
def test_unknown_outcome_is_bank_unavailable_and_status_tells_it(harness, knobs, done):
    iban = harness.creditor("Anna Müller")
    transfer = transfer_to(iban, "Anna Müller", 2_500)
    harness.faults(**knobs)

    with pytest.raises(BankUnavailable):
        harness.bank.gateway(timeout_s=0.5).submit(transfer)

    harness.faults(error_rate=0.0, timeout_rate=0.0)
    found = harness.gateway.status(payout_id=transfer.payout_id)
    if done:
        assert found is not None
        assert final_status(harness.gateway, transfer.payout_id) == "paid"
        assert harness.gateway.submit(transfer).bank_reference == found.bank_reference
    else:
        assert found is None  # safe to submit now, and it goes through once
        harness.gateway.submit(transfer)
        assert final_status(harness.gateway, transfer.payout_id) == "paid"
    assert harness.balance(iban) == 2_500


def test_status_during_an_outage_is_bank_unavailable(harness):
    harness.faults(error_rate=1.0, error_mode="before")

    with pytest.raises(BankUnavailable):
        harness.gateway.status(payout_id=new_payout_id())


def test_no_bank_at_the_address_is_bank_unavailable(harness):
    nowhere = harness.bank.gateway(base_url=f"http://127.0.0.1:{free_port()}", timeout_s=1)

    with pytest.raises(BankUnavailable):
        nowhere.submit(transfer_to(new_iban(), "Anna Müller"))
    with pytest.raises(BankUnavailable):
        nowhere.status(payout_id=new_payout_id())


# --- request signatures --------------------------------------------------------------------------


def _post_transfer(bank: SandboxBankProcess, transfer: CreditTransfer, headers: dict, body=None):
    import json

    content = (
        body
        or json.dumps(
            {
                "payout_id": transfer.payout_id,
                "amount_minor": transfer.amount_minor,
                "currency": transfer.currency,
                "creditor_name": transfer.creditor_name,
                "creditor_iban": transfer.iban,
            },
            separators=(",", ":"),
        ).encode()
    )
    return exchange(
        "POST",
        f"{bank.url}/transfers",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": transfer.payout_id,
            **headers,
        },
        body=content,
        timeout_s=5,
    )


def test_an_unsigned_request_is_refused(harness):
    transfer = transfer_to(new_iban(), "Anna Müller")

    answer = _post_transfer(harness.bank, transfer, {})

    assert answer.status == 401
    assert harness.gateway.status(payout_id=transfer.payout_id) is None


@pytest.mark.parametrize("skew_s", [-400, 400])
def test_a_stale_or_future_signature_is_refused(harness, skew_s):
    skewed = harness.bank.gateway(clock=lambda: time.time() + skew_s)
    transfer = transfer_to(new_iban(), "Anna Müller")

    with pytest.raises(BankError) as refused:
        skewed.submit(transfer)

    assert refused.value.extra == {"bank_code": "signature_stale", "http_status": 401}
    assert harness.gateway.status(payout_id=transfer.payout_id) is None


def test_a_signature_by_another_key_is_refused(harness):
    impostor = harness.bank.gateway(signing_key=base64.b64encode(b"\x07" * 32).decode())
    transfer = transfer_to(new_iban(), "Anna Müller")

    with pytest.raises(BankError) as refused:
        impostor.submit(transfer)

    assert not isinstance(refused.value, BankUnavailable)
    assert refused.value.extra["http_status"] == 401
    assert harness.gateway.status(payout_id=transfer.payout_id) is None


def test_a_signature_over_another_body_or_path_is_refused(harness):
    transfer = transfer_to(new_iban(), "Anna Müller")
    other = dataclasses.replace(transfer, amount_minor=1)
    gateway: SandboxBankGateway = harness.bank.gateway()
    import json

    signed_body = json.dumps({"payout_id": other.payout_id, "amount_minor": 1}).encode()
    signed_for_other_body = gateway.signed_headers("POST", "/transfers", signed_body)
    signed_for_other_path = gateway.signed_headers("POST", "/accounts", b"")

    assert _post_transfer(harness.bank, transfer, signed_for_other_body).status == 401
    assert _post_transfer(harness.bank, transfer, signed_for_other_path).status == 401
    assert harness.gateway.status(payout_id=transfer.payout_id) is None


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"iban": "DE89370400440532013001"}, "creditor_iban"),  # check digits wrong
        ({"iban": "XX89370400440532013000"}, "creditor_iban"),  # no such country
        ({"currency": "XAU"}, "currency"),
        ({"amount_minor": 0}, "amount_minor"),
        ({"payout_id": "9b2f3c1e-9a4e-4c44-8f8e-6a1f1f2b3c4d"}, "payout_id"),  # 36 chars
    ],
)
def test_a_malformed_transfer_is_refused_and_nothing_is_done(harness, change, field):
    transfer = dataclasses.replace(transfer_to(new_iban(), "Anna Müller"), **change)

    with pytest.raises(BankError) as refused:
        harness.gateway.submit(transfer)

    assert not isinstance(refused.value, BankUnavailable)
    assert refused.value.field == field
    if field != "payout_id":
        assert harness.gateway.status(payout_id=transfer.payout_id) is None


def test_an_account_with_an_invalid_iban_cannot_be_opened(harness):
    with pytest.raises(BankError) as refused:
        harness.operator.open_account(
            iban="DE89370400440532013001", holder_name="Anna Müller", currency="EUR"
        )

    assert refused.value.extra["bank_code"] == "invalid_iban"


# --- statements and incoming credits -------------------------------------------------------------


def _statement(gateway: BankGateway, day: dt.date) -> etree._Element:
    return etree.fromstring(
        gateway.statement(day=day),
        parser=etree.XMLParser(resolve_entities=False, no_network=True),
    )


def _amount_minor(text: str, places: int) -> int:
    return int(Decimal(text).scaleb(places))


def test_camt053_lists_exactly_the_day_s_paid_transfers(harness):
    paid = []
    for currency, amount, places in (("EUR", 12_345, 2), ("JPY", 5_000, 0), ("KWD", 1_234, 3)):
        iban = harness.creditor("Anna Müller", currency=currency)
        transfer = dataclasses.replace(
            transfer_to(iban, "Anna Müller", amount, currency), remittance=f"Batch {currency}"
        )
        harness.gateway.submit(transfer)
        paid.append((transfer, places))
    refused = transfer_to(harness.creditor("Anna Müller"), "Someone Else")
    harness.gateway.submit(refused)
    for transfer, _ in paid:
        harness.callback(transfer.payout_id, "paid")
    harness.callback(refused.payout_id, "rejected")
    harness.wait_until_settled()
    today = dt.datetime.now(dt.UTC).date()
    # What the bank says it paid today: the statement's debits must be exactly these.
    booked = {
        t.payout_id: t
        for t in harness.bank.gateway().transfers()
        if t.status in ("paid", "returned") and t.raw["paid_at"].startswith(today.isoformat())
    }

    document = _statement(harness.gateway, today)

    assert document.tag == f"{{{CAMT['c']}}}Document"
    assert document.findtext("c:BkToCstmrStmt/c:GrpHdr/c:MsgId", namespaces=CAMT)
    assert document.findtext("c:BkToCstmrStmt/c:GrpHdr/c:CreDtTm", namespaces=CAMT)
    debits = {}
    statements = document.findall("c:BkToCstmrStmt/c:Stmt", namespaces=CAMT)
    for statement in statements:
        assert statement.findtext("c:Id", namespaces=CAMT)
        assert statement.findtext("c:CreDtTm", namespaces=CAMT)
        assert IBAN(statement.findtext("c:Acct/c:Id/c:IBAN", namespaces=CAMT))
        currency = statement.findtext("c:Acct/c:Ccy", namespaces=CAMT)
        balances = {
            b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=CAMT): b
            for b in statement.findall("c:Bal", namespaces=CAMT)
        }
        assert set(balances) == {"OPBD", "CLBD"}
        net = 0
        for entry in statement.findall("c:Ntry", namespaces=CAMT):
            assert entry.findtext("c:Sts/c:Cd", namespaces=CAMT) == "BOOK"
            assert entry.findtext("c:BookgDt/c:Dt", namespaces=CAMT) == today.isoformat()
            assert entry.findtext("c:ValDt/c:Dt", namespaces=CAMT) == today.isoformat()
            amount = entry.find("c:Amt", namespaces=CAMT)
            assert amount.get("Ccy") == currency
            side = entry.findtext("c:CdtDbtInd", namespaces=CAMT)
            value = Decimal(amount.text)
            net += value if side == "CRDT" else -value
            end_to_end = entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=CAMT)
            if side == "DBIT":
                debits[end_to_end] = (
                    currency,
                    amount.text,
                    entry.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", namespaces=CAMT),
                )

        def signed(code, balances=balances):
            balance = balances[code]
            value = Decimal(balance.findtext("c:Amt", namespaces=CAMT))
            return value if balance.findtext("c:CdtDbtInd", namespaces=CAMT) == "CRDT" else -value

        assert signed("OPBD") + net == signed("CLBD")

    assert set(debits) == set(booked)
    assert refused.payout_id not in debits
    for transfer, places in paid:
        currency, amount_text, remittance = debits[transfer.payout_id]
        assert currency == transfer.currency
        assert _amount_minor(amount_text, places) == transfer.amount_minor
        assert len(amount_text.partition(".")[2]) == places
        assert remittance == transfer.remittance


def test_camt053_of_a_quiet_day_has_balances_and_no_entries(harness):
    document = _statement(harness.gateway, dt.date(2020, 1, 1))

    statements = document.findall("c:BkToCstmrStmt/c:Stmt", namespaces=CAMT)
    assert statements
    for statement in statements:
        assert statement.findall("c:Ntry", namespaces=CAMT) == []
        amounts = [
            b.findtext("c:Amt", namespaces=CAMT)
            for b in statement.findall("c:Bal", namespaces=CAMT)
        ]
        assert amounts[0] == amounts[1]


def test_camt053_of_a_day_not_begun_is_refused(harness):
    with pytest.raises(BankError) as refused:
        harness.gateway.statement(day=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2))

    assert refused.value.extra["bank_code"] == "invalid_date"


def test_an_incoming_credit_is_told_by_an_incoming_callback(harness):
    credit = harness.operator.incoming(
        reference="RF18 5390 0754 7034",
        amount_minor=8_800,
        currency="EUR",
        debtor_name="Erik Buyer",
        idempotency_key=f"in-{uuid.uuid4().hex[:12]}",
    )

    received = harness.incoming_callback(credit["bank_reference"])
    callback = harness.gateway.handle_callback(headers=received.headers, body=received.body)

    assert callback.kind == "incoming"
    assert (callback.reference, callback.amount_minor, callback.currency) == (
        "RF18539007547034",
        8_800,
        "EUR",
    )
    assert callback.debtor_name == "Erik Buyer"
    assert callback.bank_reference == credit["bank_reference"]
    document = _statement(harness.gateway, dt.datetime.now(dt.UTC).date())
    references = document.xpath(
        "//c:Ntry[c:CdtDbtInd='CRDT']//c:CdtrRefInf/c:Ref/text()", namespaces=CAMT
    )
    assert "RF18539007547034" in references


def test_an_incoming_credit_with_a_bad_reference_is_refused(harness):
    with pytest.raises(BankError) as refused:
        harness.operator.incoming(
            reference="RF19 5390 0754 7034", amount_minor=100, currency="EUR", debtor_name="X"
        )

    assert refused.value.extra["bank_code"] == "invalid_reference"
