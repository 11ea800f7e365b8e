"""A payment's capture (payments/flows/capture_plpgsql.py, payments_capture) and the sandbox
processor's (payments_sandbox_capture): every case in the function (the ones that used to fall
back to a Python copy included, with the answers that copy gave), the rows it writes pinned."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from accounts.services import api_key_create
from core.errors import IntegrityViolation
from ledger.errors import BatchFailed, LedgerBusy
from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from payments.flows import capture_plpgsql as fast_capture
from payments.flows.capture import payment_capture, payment_void
from payments.flows.ledger import (
    hold_transfer_id,
    ledger_capture_sub_order_hold,
    ledger_void_sub_order_hold,
    transfer_id,
)
from payments.flows.start import payment_start
from payments.flows.state import payment_transition
from payments.flows.transitions import IllegalTransition
from payments.models import Payment, PaymentEvent, SubOrder
from payments.orders import events as order_events
from payments.orders.models import OrderEvent
from payments.providers.base import ProviderError
from payments.providers.models import SandboxCardCharge, SandboxOperation
from payments.providers.sandbox_card import processor
from payments.vault.cards import validate_card
from payments.vault.services import vault_store_card
from tests.concurrency import run_together
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

API = "/api/v1/payments/"


def card():
    return validate_card(
        number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
    )


def authorized_payment(amounts=(1500, 2500)) -> Payment:
    order = make_order(buyer=make_user(Role.BUYER), amounts=amounts)
    payment = payment_start(order=order, method="card", actor="buyer:1", card=card()).payment
    assert payment.status == "authorized"
    return payment


def staff_client() -> Client:
    client = Client()
    client.force_login(make_user(Role.STAFF))
    return client


def capture(client: Client, payment_id, **headers):
    return client.post(f"{API}{payment_id}/capture/", **headers)


def nothing_captured(payment: Payment) -> bool:
    payment.refresh_from_db()
    return (
        payment.status == "authorized"
        and payment.captured_minor == 0
        and not Transfer.objects.filter(reference=f"payment:{payment.id}", pending__isnull=False)
        and not PaymentEvent.objects.filter(payment=payment, to_status="captured")
        and not OrderEvent.objects.filter(order_id=payment.order_id, kind="payment.captured")
        and not SubOrder.objects.filter(order_id=payment.order_id, captured_minor__gt=0)
    )


# --- the fast path is taken -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_capture_request_is_at_most_seven_statements():
    payment = authorized_payment()
    staff = make_user(Role.STAFF)
    _key, raw = api_key_create(owner=staff, name="ops")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get(f"{API}{payment.id}/", **auth).status_code == 200  # key's last use noted

    with CaptureQueriesContext(connection) as queries:
        response = capture(client, payment.id, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()), **auth)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["captured_minor"]) == ("captured", 4000)
    assert body["order_number"] == payment.order.number
    assert body["card"]["last4"] == "4242"
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) <= 7, "\n".join(statements)
    assert any("payments_capture(" in sql for sql in statements)
    assert any("payments_sandbox_capture" in sql for sql in statements)
    # The answer is what a fresh read gives.
    assert client.get(f"{API}{payment.id}/", **auth).json() == body


@pytest.mark.django_db
def test_payment_capture_uses_the_fast_path(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # ledger account ids remembered
        payment = authorized_payment()
    with CaptureQueriesContext(connection) as queries:
        captured = payment_capture(payment_id=payment.id, actor="staff:1")
    assert (captured.status, captured.captured_minor) == ("captured", 4000)
    statements = [
        q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]
    ]  # the call runs in a savepoint here because the test holds a transaction
    assert len(statements) == 3, statements
    assert "ledger_transfer" in statements[0]  # the read (with the settled-holds check)
    assert "payments_sandbox_capture" in statements[1]
    assert "payments_capture(" in statements[2]


# --- refusals ----------------------------------------------------------------------------------


def _bank_payment_marked_authorized() -> Payment:
    order = make_order(buyer=make_user(Role.BUYER))
    return Payment.objects.create(
        order=order,
        method="bank_transfer",
        provider="bank_transfer",
        status="authorized",
        amount_minor=order.total_minor,
        currency=order.currency,
    )


def _voided() -> Payment:
    payment = authorized_payment()
    return payment_void(payment_id=payment.id, actor="staff:1")


def _settled_per_sub_order() -> Payment:
    payment = authorized_payment()
    sub = SubOrder.objects.filter(order_id=payment.order_id).order_by("id").first()
    ledger_capture_sub_order_hold(payment, sub, sub.amount_minor)
    return payment


SCENARIOS = {
    "missing": (lambda: uuid.uuid4(), 404, "payment_not_found"),
    "voided": (lambda: _voided().id, 409, "illegal_transition"),
    "captured_on_arrival": (lambda: _bank_payment_marked_authorized().id, 409, "already_captured"),
    "settled_per_sub_order": (lambda: _settled_per_sub_order().id, 409, "settled_per_sub_order"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_refusals(scenario):
    make_id, status, code = SCENARIOS[scenario]
    payment_id = make_id()
    response = capture(staff_client(), payment_id)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_staff_only_and_404_first():
    payment = authorized_payment()
    buyer_client = Client()
    buyer_client.force_login(Payment.objects.get(pk=payment.id).order.buyer)
    assert capture(buyer_client, payment.id).status_code == 403
    stranger = Client()
    stranger.force_login(make_user(Role.BUYER))
    assert capture(stranger, payment.id).status_code == 404
    assert nothing_captured(payment)


def capture_as_read(target, actor="staff:1"):
    """The capture step for a payment read earlier (the processor has captured)."""
    return fast_capture.capture_payment(
        target.payment, actor=actor, data={"captured_minor": 4000}, target=target
    )


@pytest.mark.django_db
def test_a_replayed_capture_returns_quietly():
    payment = authorized_payment()
    target = fast_capture.load_for_capture(payment.id)
    first = payment_capture(payment_id=payment.id, actor="staff:1")
    # A second call that read the payment before the first one committed: the processor answers
    # the first result (same key), the transition finds it captured and returns quietly.
    assert capture_as_read(target, actor="staff:2") is False
    again = target.payment
    assert (again.status, again.captured_minor, again.updated_at) == (
        "captured",
        4000,
        first.updated_at,
    )
    assert PaymentEvent.objects.filter(payment=payment, to_status="captured").count() == 1
    assert Transfer.objects.filter(kind="post_pending").count() == 2


@pytest.mark.django_db
def test_an_illegal_move_raises_as_payment_transition_did():
    payment = authorized_payment()
    target = fast_capture.load_for_capture(payment.id)
    payment_void(payment_id=payment.id, actor="staff:1")
    for attempt in (
        lambda: capture_as_read(target),
        lambda: payment_transition(payment_id=payment.id, to_status="captured", actor="staff:1"),
    ):
        with pytest.raises(IllegalTransition) as refused:
            attempt()
        assert (refused.value.message, refused.value.extra) == (
            "A payment that is voided cannot become captured.",
            {"from": "voided", "to": "captured"},
        )


# --- the cases the Python path used to take: the function's now ---------------------------------


@pytest.mark.django_db
def test_sub_orders_changed_since_the_read_are_read_again():
    payment = authorized_payment()
    target = fast_capture.load_for_capture(payment.id)
    target.sub_order_amounts = [1000, 3000]  # not what the database holds (1500, 2500)
    assert capture_as_read(target) is True
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    posted = Transfer.objects.filter(kind="post_pending", reference=f"payment:{payment.id}")
    assert sorted(posted.values_list("amount_minor", flat=True)) == [1500, 2500]
    assert sorted(
        SubOrder.objects.filter(order_id=payment.order_id).values_list("captured_minor", flat=True)
    ) == [1500, 2500]


@pytest.mark.django_db
def test_sub_orders_that_do_not_add_up_are_refused_with_nothing_written():
    order = make_order(buyer=make_user(Role.BUYER))
    payment = Payment.objects.create(
        order=order,
        method="card",
        provider="sandbox_card",
        status="authorized",
        amount_minor=order.total_minor + 1,
        currency=order.currency,
    )
    target = fast_capture.load_for_capture(payment.id)
    for attempt in (
        lambda: capture_as_read(target),
        lambda: payment_transition(payment_id=payment.id, to_status="captured", actor="staff:1"),
    ):
        with pytest.raises(IntegrityViolation) as refused:
            attempt()
        assert (refused.value.code, refused.value.message) == (
            "sub_orders_do_not_match_payment",
            "Sub-orders sum to 4000, the payment is 4001.",
        )
        assert nothing_captured(payment)


@pytest.mark.django_db
def test_sub_orders_in_another_currency_are_refused_with_nothing_written():
    payment = authorized_payment()
    SubOrder.objects.filter(order_id=payment.order_id).update(currency="USD")
    with pytest.raises(IntegrityViolation) as refused:
        payment_capture(payment_id=payment.id, actor="staff:1")
    assert (refused.value.code, refused.value.message) == (
        "currency",
        "Sub-order currency differs from the payment's.",
    )
    assert nothing_captured(payment)


@pytest.mark.django_db
def test_a_ledger_refusal_raises_batch_failed_with_nothing_written():
    payment = authorized_payment()
    target = fast_capture.load_for_capture(payment.id)
    assert not target.settled
    # A seller's hold is released after the read (rejection): the ledger refuses to post it.
    sub = SubOrder.objects.get(pk=target.sub_order_ids[1])
    ledger_void_sub_order_hold(payment, sub)
    posted = Transfer.objects.count()
    for attempt in (
        lambda: capture_as_read(target),
        lambda: payment_transition(payment_id=payment.id, to_status="captured", actor="staff:1"),
    ):
        with pytest.raises(BatchFailed) as refused:
            attempt()
        assert (refused.value.index, refused.value.reason.code) == (1, "pending_already_closed")
    assert Transfer.objects.count() == posted
    payment.refresh_from_db()
    assert payment.status == "authorized"
    assert not PaymentEvent.objects.filter(payment=payment, to_status="captured")


@pytest.mark.django_db
def test_contention_is_retried_then_reported_busy(monkeypatch):
    payment = authorized_payment()
    target = fast_capture.load_for_capture(payment.id)
    calls = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def deadlocked(sql, params):
        calls.append(sql)
        raise DatabaseError("deadlock detected") from Deadlock()

    monkeypatch.setattr(fast_capture, "fast_call", deadlocked)
    monkeypatch.setattr(fast_capture, "BACKOFF_BASE_S", 0)
    with pytest.raises(LedgerBusy):
        capture_as_read(target)
    assert len(calls) == fast_capture.MAX_ATTEMPTS
    assert nothing_captured(payment)


@pytest.mark.django_db
def test_not_a_uuid_is_not_loaded():
    assert fast_capture.load_for_capture("not-a-uuid") is None


@pytest.mark.django_db
def test_a_partial_capture():
    payment = authorized_payment()
    first = SubOrder.objects.filter(order_id=payment.order_id).order_by("id").first()
    response = staff_client().post(
        f"{API}{payment.id}/capture/",
        json.dumps({"sub_order_amounts": {str(first.id): 1000}}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["captured_minor"]) == ("captured", 1000)
    second = SubOrder.objects.filter(order_id=payment.order_id).order_by("id").last()
    closes = {
        t.pending_id: (t.kind, t.amount_minor, t.reason)
        for t in Transfer.objects.filter(
            reference=f"payment:{payment.id}", kind__endswith="pending"
        )
        if t.pending_id
    }
    assert closes == {
        hold_transfer_id(payment.id, first.id): ("post_pending", 1000, "payment_captured"),
        hold_transfer_id(payment.id, second.id): ("void_pending", 2500, "payment_capture_released"),
    }
    assert list(
        SubOrder.objects.filter(order_id=payment.order_id)
        .order_by("id")
        .values_list("captured_minor", flat=True)
    ) == [1000, 0]
    event = OrderEvent.objects.get(order_id=payment.order_id, kind="payment.captured")
    assert event.data["captured_minor"] == 1000
    assert PaymentEvent.objects.get(payment=payment, to_status="captured").data == {
        "captured_minor": 1000
    }
    assert (
        SandboxCardCharge.objects.get(reference=payment.provider_reference).captured_minor == 1000
    )


# --- the rows written ----------------------------------------------------------------------------


def _balances() -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for code in ("platform:escrow", "external:sandbox_card"):
        b = account_balance(account_by_code(currency="EUR", code=code).id)
        out[code] = (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted)
    return out


def _capture_and_snapshot(monkeypatch, capture_fixture, client) -> dict:
    payment = authorized_payment()
    before = _balances()
    dispatched: list[int] = []
    monkeypatch.setattr(order_events, "_enqueue_dispatch", lambda ids: dispatched.extend(ids))
    with capture_fixture(execute=True):
        response = capture(client, payment.id)
    assert response.status_code == 200, response.content
    after = _balances()

    payment.refresh_from_db()
    subs = list(SubOrder.objects.filter(order_id=payment.order_id).order_by("id"))
    seller = {sub.seller_id: f"seller{i}" for i, sub in enumerate(subs)}
    sub_name = {sub.id: f"sub{i}" for i, sub in enumerate(subs)}

    def norm(value):
        """Ids of this scenario's rows replaced by their roles, so two scenarios compare."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in ("seller_id", "seller"):
                    out[key] = seller[item]
                elif key in ("id", "sub_order") and item in sub_name:
                    out[key] = sub_name[item]
                else:
                    out[key] = norm(item)
            return out
        if isinstance(value, list):
            return [norm(item) for item in value]
        if isinstance(value, str):
            for real, role in (
                (str(payment.id), "PAYMENT"),
                (str(payment.order_id), "ORDER"),
                (payment.provider_reference, "REF"),
                (payment.order.number, "NUMBER"),
            ):
                value = value.replace(real, role)
        return value

    body = response.json()
    assert client.get(f"{API}{payment.id}/").json() == body  # answered as a fresh read would
    transfers = Transfer.objects.filter(reference=f"payment:{payment.id}").order_by(
        "created_at", "id"
    )
    charge = SandboxCardCharge.objects.get(reference=payment.provider_reference)
    order_event = OrderEvent.objects.get(order_id=payment.order_id, kind="payment.captured")
    return {
        "response": norm(
            {k: v for k, v in body.items() if k not in {"created_at", "updated_at", "expires_at"}}
        ),
        "payment": norm(
            {
                f: getattr(payment, f)
                for f in ("status", "amount_minor", "captured_minor", "failure_code", "method")
            }
        ),
        "payment_updated_later": payment.updated_at > payment.created_at,
        "payment_events": [
            norm([e.from_status, e.to_status, e.actor, e.reason, e.data])
            for e in PaymentEvent.objects.filter(payment=payment).order_by("created_at", "id")
        ],
        "order_events": [e.kind for e in OrderEvent.objects.filter(order_id=payment.order_id)],
        "captured_event": norm(
            [
                order_event.kind,
                order_event.actor,
                order_event.sub_order_id,
                order_event.data,
                order_event.dispatched_at,
            ]
        ),
        "dispatched": order_event.pk in dispatched,
        "sub_orders": [
            [
                sub_name[s.id],
                s.status,
                s.amount_minor,
                s.captured_minor,
                s.updated_at > s.created_at,
            ]
            for s in subs
        ],
        "transfers": [
            [
                t.kind,
                t.amount_minor,
                t.currency,
                t.reason,
                norm(t.reference),
                norm(t.metadata),
                t.debit_account.code,
                t.credit_account.code,
                t.batch_id is not None,
                t.timeout_at,
            ]
            for t in transfers
        ],
        "transfer_ids": [
            t.id
            == (
                hold_transfer_id(payment.id, t.metadata["sub_order"])
                if t.kind == "pending"
                else transfer_id(payment.id, t.metadata["sub_order"], "capture")
            )
            and t.pending_id
            == (
                None
                if t.kind == "pending"
                else hold_transfer_id(payment.id, t.metadata["sub_order"])
            )
            for t in transfers
        ],
        "one_batch": len({t.batch_id for t in transfers if t.kind == "post_pending"}) == 1,
        "balance_change": {
            code: tuple(a - b for a, b in zip(after[code], before[code], strict=True))
            for code in after
        },
        "charge": [
            charge.status,
            charge.amount_minor,
            charge.captured_minor,
            charge.refunded_minor,
        ],
        "operations": [
            [
                o.processor,
                norm(o.idempotency_key),
                o.kind,
                o.amount_minor,
                norm(o.reference),
                norm(o.result),
            ]
            for o in SandboxOperation.objects.filter(reference=payment.provider_reference)
        ],
    }


# What a staff capture wrote when the Python path (payment_capture -> payment_transition) was the
# reference it was held equal to; pinned when that path was removed.
def _expected_capture(actor: str) -> dict:
    return {
        "balance_change": {
            "external:sandbox_card": (-4000, 4000, 0, 0),
            "platform:escrow": (0, 0, -4000, 4000),
        },
        "captured_event": [
            "payment.captured",
            actor,
            None,
            {
                "amount_minor": 4000,
                "captured_minor": 4000,
                "currency": "EUR",
                "method": "card",
                "order_id": "ORDER",
                "payment_id": "PAYMENT",
                "status": "captured",
                "sub_orders": [
                    {"amount_minor": 1500, "id": "sub0", "seller_id": "seller0"},
                    {"amount_minor": 2500, "id": "sub1", "seller_id": "seller1"},
                ],
            },
            None,
        ],
        "charge": ["captured", 4000, 4000, 0],
        "dispatched": True,
        "one_batch": True,
        "operations": [
            [
                "sandbox_card",
                "payment:PAYMENT:capture",
                "capture",
                0,
                "REF",
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 4000,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference": "REF",
                    "refunded_minor": 0,
                    "status": "captured",
                },
            ]
        ],
        "order_events": ["payment.authorized", "order.paid", "order.paid", "payment.captured"],
        "payment": {
            "amount_minor": 4000,
            "captured_minor": 4000,
            "failure_code": "",
            "method": "card",
            "status": "captured",
        },
        "payment_events": [
            ["", "created", "buyer:1", "started", {}],
            [
                "created",
                "authorized",
                "buyer:1",
                "authorised by the provider",
                {"failure_code": "", "provider_status": "authorized"},
            ],
            ["authorized", "captured", actor, "captured", {"captured_minor": 4000}],
        ],
        "payment_updated_later": True,
        "response": {
            "amount_minor": 4000,
            "bank_transfer": None,
            "captured_minor": 4000,
            "card": {"brand": "visa", "exp_month": 12, "exp_year": 2030, "last4": "4242"},
            "currency": "EUR",
            "failure_code": "",
            "failure_message": "",
            "id": "PAYMENT",
            "method": "card",
            "next_action": None,
            "order": "ORDER",
            "order_number": "NUMBER",
            "provider": "sandbox_card",
            "status": "captured",
            "wallet": None,
        },
        "sub_orders": [
            ["sub0", "awaiting_acceptance", 1500, 1500, True],
            ["sub1", "awaiting_acceptance", 2500, 2500, True],
        ],
        "transfer_ids": [True, True, True, True],
        "transfers": [
            [
                "pending",
                1500,
                "EUR",
                "payment_authorized",
                "payment:PAYMENT",
                {"order": "ORDER", "seller": "seller0", "sub_order": "sub0"},
                "external:sandbox_card",
                "platform:escrow",
                True,
                None,
            ],
            [
                "pending",
                2500,
                "EUR",
                "payment_authorized",
                "payment:PAYMENT",
                {"order": "ORDER", "seller": "seller1", "sub_order": "sub1"},
                "external:sandbox_card",
                "platform:escrow",
                True,
                None,
            ],
            [
                "post_pending",
                1500,
                "EUR",
                "payment_captured",
                "payment:PAYMENT",
                {"order": "ORDER", "sub_order": "sub0"},
                "external:sandbox_card",
                "platform:escrow",
                True,
                None,
            ],
            [
                "post_pending",
                2500,
                "EUR",
                "payment_captured",
                "payment:PAYMENT",
                {"order": "ORDER", "sub_order": "sub1"},
                "external:sandbox_card",
                "platform:escrow",
                True,
                None,
            ],
        ],
    }


@pytest.mark.django_db
def test_a_capture_writes_these_rows(monkeypatch, django_capture_on_commit_callbacks):
    staff = make_user(Role.STAFF)
    client = Client()
    client.force_login(staff)
    written = _capture_and_snapshot(monkeypatch, django_capture_on_commit_callbacks, client)
    assert written == _expected_capture(f"staff:{staff.pk}")


@pytest.mark.django_db
def test_one_sub_order_is_posted_by_the_single_transfer_call():
    payment = authorized_payment(amounts=(4000,))
    payment_capture(payment_id=payment.id, actor="staff:1")
    close = Transfer.objects.get(
        pending_id=hold_transfer_id(payment.id, payment.order.sub_orders.get().id)
    )
    assert (close.kind, close.amount_minor, close.batch_id, close.reason) == (
        "post_pending",
        4000,
        None,
        "payment_captured",
    )


# --- the processor's capture function ------------------------------------------------------------


def _charge(key: str) -> str:
    token = vault_store_card(card=card()).token
    return processor.create_charge(
        idempotency_key=key, card_token=token, cvc=TEST_CVC, amount_minor=4000, currency="EUR"
    )["reference"]


def _capture(reference, amount_minor, key):
    return processor.capture(reference=reference, amount_minor=amount_minor, idempotency_key=key)


def _attempt(reference, amount_minor, key):
    try:
        result = _capture(reference, amount_minor, key)
    except ProviderError as exc:
        return ("refused", exc.code, exc.message)
    return {k: v for k, v in result.items() if k != "reference"} | {
        "reference_matches": result["reference"] == reference
    }


def _state(reference: str) -> tuple:
    charge = SandboxCardCharge.objects.get(reference=reference)
    ops = [
        (o.kind, o.amount_minor, {k: v for k, v in o.result.items() if k != "reference"})
        for o in SandboxOperation.objects.filter(reference=reference).order_by("id")
    ]
    return (charge.status, charge.captured_minor, charge.refunded_minor, ops)


# name: setup run before the capture attempts, the attempts (amount, key), and the answers and
# the charge's state afterwards, as SandboxCardProcessor._operation(kind="capture") gave them
# when it was the reference the function was held equal to.
STEPS = {
    "full_then_replay_then_new_key": (
        None,
        [(None, "c1"), (None, "c1"), (None, "c2")],
        (
            [
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 4000,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference_matches": True,
                    "refunded_minor": 0,
                    "status": "captured",
                },
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 4000,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference_matches": True,
                    "refunded_minor": 0,
                    "status": "captured",
                },
                ("refused", "multicapture", "This charge is being captured in parts."),
            ],
            (
                "captured",
                4000,
                0,
                [
                    (
                        "capture",
                        0,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 4000,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "captured",
                        },
                    )
                ],
            ),
        ),
    ),
    "partial_then_replay": (
        None,
        [(1500, "c1"), (1500, "c1"), (100, "c2")],
        (
            [
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 1500,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference_matches": True,
                    "refunded_minor": 0,
                    "status": "captured",
                },
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 1500,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference_matches": True,
                    "refunded_minor": 0,
                    "status": "captured",
                },
                ("refused", "multicapture", "This charge is being captured in parts."),
            ],
            (
                "captured",
                1500,
                0,
                [
                    (
                        "capture",
                        1500,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 1500,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "captured",
                        },
                    )
                ],
            ),
        ),
    ),
    "out_of_range_then_retry_same_key": (
        None,
        [(4001, "c1"), (0, "c1"), (4000, "c1")],
        (
            [
                ("refused", "amount_out_of_range", "Capture amount out of range."),
                ("refused", "amount_out_of_range", "Capture amount out of range."),
                {
                    "amount_minor": 4000,
                    "attempts": 1,
                    "brand": "visa",
                    "captured_minor": 4000,
                    "currency": "EUR",
                    "failure_code": "",
                    "last4": "4242",
                    "reference_matches": True,
                    "refunded_minor": 0,
                    "status": "captured",
                },
            ],
            (
                "captured",
                4000,
                0,
                [
                    (
                        "capture",
                        4000,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 4000,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "captured",
                        },
                    )
                ],
            ),
        ),
    ),
    "voided": (
        "void",
        [(None, "c1")],
        (
            [("refused", "not_authorized", "Only an authorised charge can be captured.")],
            (
                "voided",
                0,
                0,
                [
                    (
                        "void",
                        0,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 0,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "voided",
                        },
                    )
                ],
            ),
        ),
    ),
    "after_release_part": (
        "release_part",
        [(None, "c1"), (1000, "c2")],
        (
            [
                ("refused", "multicapture", "This charge is being captured in parts."),
                ("refused", "multicapture", "This charge is being captured in parts."),
            ],
            (
                "authorized",
                0,
                0,
                [
                    (
                        "release_part",
                        1000,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 0,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "authorized",
                        },
                    )
                ],
            ),
        ),
    ),
    "after_capture_part": (
        "capture_part",
        [(None, "c1")],
        (
            [("refused", "multicapture", "This charge is being captured in parts.")],
            (
                "authorized",
                1000,
                0,
                [
                    (
                        "capture_part",
                        1000,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 1000,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "authorized",
                        },
                    )
                ],
            ),
        ),
    ),
    "refunded": (
        "capture_refund",
        [(None, "c1")],
        (
            [("refused", "multicapture", "This charge is being captured in parts.")],
            (
                "refunded",
                4000,
                4000,
                [
                    (
                        "capture",
                        0,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 4000,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 0,
                            "status": "captured",
                        },
                    ),
                    (
                        "refund",
                        4000,
                        {
                            "amount_minor": 4000,
                            "attempts": 1,
                            "brand": "visa",
                            "captured_minor": 4000,
                            "currency": "EUR",
                            "failure_code": "",
                            "last4": "4242",
                            "refunded_minor": 4000,
                            "status": "refunded",
                        },
                    ),
                ],
            ),
        ),
    ),
}


def _setup(kind: str | None, reference: str, prefix: str) -> None:
    if kind == "void":
        processor.void(reference=reference, idempotency_key=f"{prefix}-s1")
    elif kind == "release_part":
        processor.release_part(
            reference=reference, amount_minor=1000, idempotency_key=f"{prefix}-s1"
        )
    elif kind == "capture_part":
        processor.capture_part(
            reference=reference, amount_minor=1000, idempotency_key=f"{prefix}-s1"
        )
    elif kind == "capture_refund":
        _capture(reference, None, f"{prefix}-s0")
        processor.refund(reference=reference, amount_minor=4000, idempotency_key=f"{prefix}-s1")


@pytest.mark.django_db
@pytest.mark.parametrize("steps", sorted(STEPS))
def test_the_processor_capture_function_answers_as_pinned(steps):
    setup, attempts, expected = STEPS[steps]
    reference = _charge("auth-1")
    _setup(setup, reference, "python")
    answers = [_attempt(reference, amount, f"python-{key}") for amount, key in attempts]
    assert (answers, _state(reference)) == expected


@pytest.mark.django_db
def test_the_processor_capture_function_refuses_an_unknown_charge():
    assert _attempt("ch_nope", None, "k") == ("refused", "no_such_charge", "No such charge.")
    assert not SandboxOperation.objects.filter(reference="ch_nope").exists()


@pytest.mark.django_db
def test_the_provider_capture_goes_through_the_function(django_assert_num_queries):
    reference = _charge("auth-1")
    from payments.providers.registry import get_provider

    provider = get_provider("sandbox_card")
    with django_assert_num_queries(1):
        result = provider.capture(reference=reference, amount_minor=None, idempotency_key="c1")
    assert (result.status, result.captured_minor) == ("captured", 4000)
    with django_assert_num_queries(1):
        assert (
            provider.capture(reference=reference, amount_minor=None, idempotency_key="c1") == result
        )


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_captures_at_once_capture_once():
    payment = authorized_payment()
    staff = make_user(Role.STAFF)
    _key, raw = api_key_create(owner=staff, name="ops")

    def call():
        return Client().post(
            f"{API}{payment.id}/capture/",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    responses = run_together(call, call)
    assert all(not isinstance(r, Exception) for r in responses), responses
    # Both read it authorised (the second then finds it captured by the first and returns
    # quietly), or the second read it already captured: refused as the Python path refuses.
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert ok and {r.json()["status"] for r in ok} == {"captured"}, [r.content for r in responses]
    assert all(
        (r.status_code, r.json()["error"]["code"]) == (409, "illegal_transition") for r in refused
    ), [r.content for r in refused]
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    assert PaymentEvent.objects.filter(payment=payment, to_status="captured").count() == 1
    assert (
        OrderEvent.objects.filter(order_id=payment.order_id, kind="payment.captured").count() == 1
    )
    assert Transfer.objects.filter(kind="post_pending").count() == 2
    assert SandboxOperation.objects.filter(kind="capture").count() == 1
    escrow = account_balance(account_by_code(currency="EUR", code="platform:escrow").id)
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 4000)


@pytest.mark.django_db(transaction=True)
def test_two_processor_captures_at_once_answer_the_first_result():
    reference = _charge("auth-1")
    results = run_together(
        *[
            lambda: processor.capture(reference=reference, amount_minor=None, idempotency_key="c1")
            for _ in range(3)
        ]
    )
    assert all(isinstance(r, dict) for r in results), results
    assert results[0] == results[1] == results[2]
    assert SandboxOperation.objects.filter(idempotency_key="c1").count() == 1
