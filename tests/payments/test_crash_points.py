"""Crash points on PostgreSQL: the request's database connection is killed at each statement of
the card payment (automatic capture), of a staff capture and of a seller's refund, in turn; the
client then retries with the same Idempotency-Key, as a careful client does on a 503.

Whatever statement the connection died at: the client never sees a 500, the retry's answer names
the one payment (or refund), the processor charged and captured once, and the ledger holds one
hold and one capture per sub-order.

The kill: an execute wrapper counts the statements Django runs for the request and, at number N,
has another connection terminate this connection's backend (pg_terminate_backend, waiting until it
is gone) before the statement is sent, so the statement meets a dead connection as it would in a
failover or when an operator kills the backend.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from ledger.models import Transfer
from ledger.verification import verify_ledger
from payments.fulfilment.models import Refund
from payments.models import Payment
from payments.providers.models import SandboxCardCharge
from tests.db_faults import KillAt, finished_request
from tests.lifecycle.release_fixtures import make_seller, paid_order
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments/"
# Besides 503: the 409s that tell a careful client to come back with the same key.
RETRY_CODES = {"idempotency_key_in_flight", "payment_processing"}
MAX_RETRIES = 5


def client_for(user) -> Client:
    # A 500 must come back as a response (and fail the assertion), not as a raised exception.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def send(client: Client, path: str, body: dict, key: str, *, kill_at: int = 0) -> tuple:
    """One request with the key (its connection killed at statement `kill_at`), then retries
    while the answer says to; returns (first answer, last answer, statements of the first)."""
    killer = KillAt(kill_at)
    with connection.execute_wrapper(killer):
        first = client.post(path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    finished_request()
    answer = first
    for _retry in range(MAX_RETRIES):
        if not says_retry(answer):
            break
        answer = client.post(path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    return first, answer, killer


def says_retry(response) -> bool:
    if response.status_code == 503:
        return True
    return response.status_code == 409 and response.json()["error"]["code"] in RETRY_CODES


def statements_of(run) -> int:
    """How many statements the request runs when nothing goes wrong (the second time: the first
    also makes the ledger accounts it is the first to use)."""
    for _warm_up in range(2):
        _first, answer, killer = run(0)
        assert answer.status_code in (200, 201), answer.content
    return killer.count


def card_body(order) -> dict:
    return {
        "order": str(order.pk),
        "method": "card",
        "capture_method": "automatic",
        "card": {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC},
    }


def assert_captured_once(payment: Payment, order) -> None:
    assert Payment.objects.filter(order=order).count() == 1
    assert payment.status == "captured"
    charges = SandboxCardCharge.objects.filter(idempotency_key=f"payment:{payment.id}:authorize")
    assert [(c.status, c.captured_minor) for c in charges] == [("captured", order.total_minor)]
    for reason in ("payment_authorized", "payment_captured"):
        transfers = Transfer.objects.filter(reference=f"payment:{payment.id}", reason=reason)
        assert transfers.count() == order.sub_orders.count(), reason
        assert sum(t.amount_minor for t in transfers) == order.total_minor, reason


def test_the_card_payment_path_killed_at_each_statement():
    buyer = make_user("buyer")
    client = client_for(buyer)

    def run(kill_at: int):
        order = make_order(buyer=buyer)
        return send(client, PAYMENTS, card_body(order), f"pay-{order.pk}", kill_at=kill_at)

    total = statements_of(run)
    assert total >= 4
    for kill_at in range(1, total + 1):
        order = make_order(buyer=buyer)
        first, answer, killer = send(
            client, PAYMENTS, card_body(order), f"pay-{order.pk}", kill_at=kill_at
        )
        where = f"killed at statement {kill_at}: {killer.statements[kill_at - 1 : kill_at]}"
        assert killer.killed, where
        assert first.status_code != 500 and answer.status_code != 500, where
        assert answer.status_code == 201, (where, answer.content)
        payment = Payment.objects.get(order=order)
        assert answer.json()["id"] == str(payment.id), where
        assert_captured_once(payment, order)
    assert verify_ledger(check_leaves=False).ok


def test_the_staff_capture_killed_at_each_statement():
    buyer, staff = make_user("buyer"), make_user("staff")
    buyer_client, staff_client = client_for(buyer), client_for(staff)

    def authorised():
        order = make_order(buyer=buyer)
        body = {**card_body(order), "capture_method": "manual"}
        response = buyer_client.post(PAYMENTS, body, content_type="application/json")
        assert response.json()["status"] == "authorized", response.content
        return order, response.json()["id"]

    def run(kill_at: int):
        _order, payment_id = authorised()
        path = f"{PAYMENTS}{payment_id}/capture/"
        return send(staff_client, path, {}, f"capture-{payment_id}", kill_at=kill_at)

    total = statements_of(run)
    for kill_at in range(1, total + 1):
        order, payment_id = authorised()
        path = f"{PAYMENTS}{payment_id}/capture/"
        first, answer, killer = send(
            staff_client, path, {}, f"capture-{payment_id}", kill_at=kill_at
        )
        where = f"killed at statement {kill_at}: {killer.statements[kill_at - 1 : kill_at]}"
        assert killer.killed, where
        assert first.status_code != 500 and answer.status_code != 500, where
        assert answer.status_code == 200, (where, answer.content)
        assert answer.json()["id"] == payment_id, where
        assert_captured_once(Payment.objects.get(pk=payment_id), order)
    assert verify_ledger(check_leaves=False).ok


def test_a_sellers_refund_killed_at_each_statement(monkeypatch):
    from payments.fulfilment import refunds as refund_services

    monkeypatch.setattr(refund_services, "_enqueue", lambda refund_id: None)  # stays pending
    buyer = make_user("buyer")

    def refundable():
        seller = make_seller()
        _order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller])
        path = f"/api/v1/orders/{sub.order_id}/sub-orders/{sub.pk}/refunds"
        return client_for(seller), sub, path

    def run(kill_at: int):
        client, sub, path = refundable()
        body = {"amount_minor": 2500, "reason": "Scratched"}
        return send(client, path, body, f"refund-{sub.pk}", kill_at=kill_at)

    total = statements_of(run)
    for kill_at in range(1, total + 1):
        client, sub, path = refundable()
        body = {"amount_minor": 2500, "reason": "Scratched"}
        first, answer, killer = send(client, path, body, f"refund-{sub.pk}", kill_at=kill_at)
        where = f"killed at statement {kill_at}: {killer.statements[kill_at - 1 : kill_at]}"
        assert killer.killed, where
        assert first.status_code != 500 and answer.status_code != 500, where
        assert answer.status_code == 201, (where, answer.content)
        refunds = Refund.objects.filter(sub_order=sub)
        assert [str(r.id) for r in refunds] == [answer.json()["id"]], where
        assert refunds.get().amount_minor == 2500
    assert verify_ledger(check_leaves=False).ok
