"""The payment state machine: the table, the one transition function, its ledger effects."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from payments.flows.capture_plpgsql import capture_payment
from payments.flows.ledger import hold_transfer_id
from payments.flows.state import payment_transition
from payments.flows.transitions import FINAL, TRANSITIONS, IllegalTransition
from payments.models import OrderStatus, Payment, PaymentEvent, PaymentStatus, SubOrderStatus

pytestmark = pytest.mark.django_db
S = PaymentStatus


def new_payment(order, *, status=S.CREATED, provider="sandbox_card", method="card") -> Payment:
    return Payment.objects.create(
        order=order,
        method=method,
        provider=provider,
        status=status,
        amount_minor=order.total_minor,
        currency=order.currency,
        provider_reference=f"ref-{order.number}",
    )


def balance(code: str, currency: str = "EUR"):
    return account_balance(account_by_code(currency=currency, code=code).id)


ILLEGAL = [
    (source, target)
    for source in S.values
    for target in S.values
    if target not in TRANSITIONS[source]
]


def test_table_covers_every_status_and_final_states_lead_nowhere():
    assert set(TRANSITIONS) == set(S.values)
    assert {S.CAPTURED, S.FAILED, S.VOIDED, S.EXPIRED} == FINAL


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_raises_and_writes_nothing(order, source, target):
    payment = new_payment(order, status=source)
    transfers, events = Transfer.objects.count(), PaymentEvent.objects.count()
    with pytest.raises(IllegalTransition) as caught:
        payment_transition(
            payment_id=payment.id,
            to_status=target,
            actor="staff:1",
            reason="try",
            fields={"failure_code": "x"},
        )
    assert caught.value.code == "illegal_transition" and caught.value.http_status == 409
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (source, "")
    assert (Transfer.objects.count(), PaymentEvent.objects.count()) == (transfers, events)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT


def test_authorise_places_one_pending_hold_per_sub_order(order):
    payment = new_payment(order)
    payment_transition(
        payment_id=payment.id,
        to_status=S.AUTHORIZED,
        actor="provider:sandbox_card",
        reason="authorised",
        data={"x": 1},
    )

    subs = list(order.sub_orders.order_by("id"))
    holds = [Transfer.objects.get(pk=sub.escrow_transfer_id) for sub in subs]
    assert [(h.kind, h.amount_minor, h.currency) for h in holds] == [
        ("pending", 1500, "EUR"),
        ("pending", 2500, "EUR"),
    ]
    assert [sub.escrow_transfer_id for sub in subs] == [
        hold_transfer_id(payment.id, sub.id) for sub in subs
    ]
    assert {h.debit_account.code for h in holds} == {"external:sandbox_card"}
    assert {h.credit_account.code for h in holds} == {"platform:escrow"}
    escrow = balance("platform:escrow")
    assert (
        escrow.credits_pending,
        escrow.credits_posted,
        escrow.debits_pending,
        escrow.debits_posted,
    ) == (4000, 0, 0, 0)
    external = balance("external:sandbox_card")
    assert (external.debits_pending, external.debits_posted) == (4000, 0)

    event = PaymentEvent.objects.get(payment=payment)
    assert (event.from_status, event.to_status, event.actor, event.reason, event.data) == (
        "created",
        "authorized",
        "provider:sandbox_card",
        "authorised",
        {"x": 1},
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert set(order.sub_orders.values_list("status", flat=True)) == {
        SubOrderStatus.AWAITING_ACCEPTANCE
    }


def test_failure_after_authorisation_voids_every_hold(order):
    payment = new_payment(order)
    payment_transition(payment_id=payment.id, to_status=S.AUTHORIZED, actor="system")
    payment_transition(
        payment_id=payment.id, to_status=S.FAILED, actor="system", reason="fraud check"
    )
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 0)
    assert balance("external:sandbox_card").debits_pending == 0
    voids = Transfer.objects.filter(kind="void_pending", reference=f"payment:{payment.id}")
    assert voids.count() == 2
    assert list(payment.events.values_list("from_status", "to_status")) == [
        ("created", "authorized"),
        ("authorized", "failed"),
    ]


def test_void_after_authorisation_voids_every_hold(order):
    payment = new_payment(order)
    payment_transition(payment_id=payment.id, to_status=S.AUTHORIZED, actor="system")
    payment_transition(payment_id=payment.id, to_status=S.VOIDED, actor="staff:1")
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 0)


def test_full_capture_posts_every_hold(order):
    payment = new_payment(order)
    payment_transition(payment_id=payment.id, to_status=S.AUTHORIZED, actor="system")
    payment = payment_transition(payment_id=payment.id, to_status=S.CAPTURED, actor="system")
    assert payment.captured_minor == 4000
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 4000)
    assert balance("external:sandbox_card").debits_posted == 4000


def test_partial_capture_posts_part_and_releases_the_rest(order):
    payment = new_payment(order)
    first, second = order.sub_orders.order_by("id")
    payment_transition(payment_id=payment.id, to_status=S.AUTHORIZED, actor="system")
    payment = Payment.objects.get(pk=payment.id)
    capture_payment(payment, actor="system", amounts={first.id: 1000})
    assert payment.captured_minor == 1000
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 1000)
    assert (
        Transfer.objects.get(pending_id=hold_transfer_id(payment.id, second.id)).kind
        == "void_pending"
    )


def test_failure_before_authorisation_touches_no_ledger(order):
    payment = new_payment(order)
    payment_transition(
        payment_id=payment.id,
        to_status=S.FAILED,
        actor="system",
        fields={"failure_code": "card_declined", "failure_message": "Declined."},
    )
    assert Transfer.objects.count() == 0
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (S.FAILED, "card_declined")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED


def test_ledger_refusal_rolls_back_the_transition(order):
    # Sub-orders that do not add up to the payment: the invariant check refuses, nothing changes.
    order.sub_orders.filter(amount_minor=1500).update(amount_minor=1400)
    payment = new_payment(order)
    with pytest.raises(Exception, match="Sub-orders sum"):
        payment_transition(payment_id=payment.id, to_status=S.AUTHORIZED, actor="system")
    payment.refresh_from_db()
    assert payment.status == S.CREATED
    assert (Transfer.objects.count(), PaymentEvent.objects.count()) == (0, 0)


def test_payment_row_is_locked_before_anything_is_written(order):
    # (To authorized and to captured the transition is one call of a PL/pgSQL function, whose
    # first statement locks the payment row.)
    payment = new_payment(order)
    with CaptureQueriesContext(connection) as queries:
        payment_transition(
            payment_id=payment.id,
            to_status=S.FAILED,
            actor="system",
            fields={"failure_code": "card_declined", "failure_message": "Declined."},
        )
    statements = [q["sql"] for q in queries.captured_queries]
    first_lock = next(i for i, sql in enumerate(statements) if "FOR UPDATE" in sql)
    first_write = next(
        i
        for i, sql in enumerate(statements)
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")) or "ledger_create_transfers" in sql
    )
    assert '"payments_payment"' in statements[first_lock]
    assert first_lock < first_write
