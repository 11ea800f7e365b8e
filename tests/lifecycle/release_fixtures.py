"""Fixtures for the release side's tests (confirm, auto-confirm, disputes, refunds, fees).

Sub-orders are put into accepted/shipped state directly (the `accept` helper's services are not
needed): the money is really paid and captured through the payment services (card: authorise
then payment_capture; bank transfer: the arrival captures), then the status and the lifecycle
fields are set as acceptance and shipping would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role, SellerProfile
from ledger.models import Account
from ledger.selectors import ZERO, account_balance, trial_balance
from payments.flows.capture import payment_capture
from payments.fulfilment import tasks as fulfilment_tasks
from payments.models import SubOrder
from tests.lifecycle.lifecycle_fixtures import (
    card,
    client_for,
    pay_by_bank_transfer,
    pay_by_card,
    pay_by_wallet,
)
from tests.payments.pay_factories import make_order, make_user


def make_seller(fee_plan: str | None = "standard", currency: str = "EUR"):
    seller = make_user(Role.SELLER)
    if fee_plan is not None:
        SellerProfile.objects.create(
            user=seller,
            legal_name=f"Seller {seller.pk}",
            country="DE",
            default_currency=currency,
            settlement_currency=currency,
            fee_plan=fee_plan,
        )
    return seller


def paid_order(
    *,
    buyer,
    sellers=None,
    amounts=(10000,),
    currency: str = "EUR",
    method: str = "card",
    status: str = "shipped",
    confirm_in: timedelta | None = timedelta(days=10),
):
    """An order paid and captured, each sub-order `status` (accepted/shipped) with shipped_at and
    confirm_by set as shipping does. Returns (order, payment, sub_orders)."""
    sellers = sellers or [make_seller(currency=currency) for _ in amounts]
    order = make_order(buyer=buyer, sellers=sellers, amounts=tuple(amounts), currency=currency)
    if method == "bank_transfer":
        payment = pay_by_bank_transfer(order)  # the arrival captures
    else:
        paid = pay_by_card(order) if method == "card" else pay_by_wallet(order)
        payment = payment_capture(payment_id=paid.id, actor="system")
    assert payment.status == "captured"
    now = timezone.now()
    fields = {"status": status, "accepted_at": now}
    if status == "shipped":
        fields.update(shipped_at=now, confirm_by=now + confirm_in if confirm_in else None)
    SubOrder.objects.filter(order=order).update(**fields)
    return order, payment, list(SubOrder.objects.filter(order=order).order_by("id"))


def balance(code: str, currency: str = "EUR") -> int:
    """An account's posted credit balance (0 for an account never used)."""
    account = Account.objects.filter(currency=currency, code=code).first()
    found = account_balance(account.id) if account else ZERO
    return found.credit_balance


def pending_debits(code: str, currency: str = "EUR") -> int:
    account = Account.objects.filter(currency=currency, code=code).first()
    return account_balance(account.id).debits_pending if account else 0


def assert_trial_balance_zero() -> None:
    for currency, totals in trial_balance().items():
        assert totals.net_posted == 0, currency
        assert totals.net_pending == 0, currency


def reload(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def refund_tasks(monkeypatch):
    """refund_execute messages (ids), recorded instead of sent; run them with run_refund_tasks.
    Tests run in a transaction that never commits, so the on-commit hook records them at once
    (test_refund_task_is_enqueued_on_commit checks the real hook)."""
    from payments.fulfilment import refunds as refund_services

    sent: list[str] = []
    monkeypatch.setattr(fulfilment_tasks.refund_execute, "delay", sent.append)
    monkeypatch.setattr(refund_services, "_enqueue", lambda refund_id: sent.append(str(refund_id)))
    return sent


def run_refund_tasks(sent: list[str]) -> None:
    from payments.fulfilment.refund_outcomes import refund_process

    while sent:
        refund_process(refund_id=sent.pop(0))


@pytest.fixture
def eager_refunds(monkeypatch):
    """refund_execute runs at once when enqueued (after commit)."""
    from payments.fulfilment.refund_outcomes import refund_process

    monkeypatch.setattr(
        fulfilment_tasks.refund_execute, "delay", lambda rid: refund_process(refund_id=rid)
    )


__all__ = [
    "assert_trial_balance_zero",
    "balance",
    "card",
    "client_for",
    "eager_refunds",
    "make_seller",
    "paid_order",
    "pending_debits",
    "refund_tasks",
    "reload",
    "run_refund_tasks",
]
