"""The checkout hot path after its cuts: one lock per transition, replays still quiet, remembered
ledger account ids only once committed, the idempotency claim in one statement."""

from __future__ import annotations

import datetime as dt

import pytest

from core.idempotency import Claimed, InFlight, idempotency_key_claim
from ledger.errors import AccountConflict
from ledger.selectors import account_balance, account_by_code
from ledger.services import account_id, get_or_create_account
from payments.flows.authorize import apply_authorize_result
from payments.flows.start import payment_start
from payments.flows.state import transition_once
from payments.flows.transitions import IllegalTransition
from payments.models import PaymentEvent
from payments.providers.base import ProviderResult
from payments.vault.cards import validate_card
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC


def card():
    return validate_card(
        number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
    )


@pytest.mark.django_db
def test_a_replayed_authorisation_changes_nothing(order):
    payment = payment_start(order=order, method="card", actor="buyer:1", card=card()).payment
    assert payment.status == "authorized"
    result = ProviderResult(status="authorized", reference=payment.provider_reference)

    again = apply_authorize_result(payment_id=payment.id, result=result, actor="buyer:1")

    assert again.status == "authorized"
    assert PaymentEvent.objects.filter(payment=payment, to_status="authorized").count() == 1
    escrow = account_balance(account_by_code(currency="EUR", code="platform:escrow").id)
    assert escrow.credits_pending == order.total_minor  # held once


@pytest.mark.django_db
def test_a_move_the_table_refuses_still_raises(order):
    payment = payment_start(order=order, method="card", actor="buyer:1", card=card()).payment
    transition_once(payment_id=payment.id, to_status="voided", actor="staff:1", reason="test")

    with pytest.raises(IllegalTransition):
        transition_once(payment_id=payment.id, to_status="captured", actor="staff:1")
    payment.refresh_from_db()
    assert payment.status == "voided"


@pytest.mark.django_db
def test_account_ids_are_not_remembered_before_commit(django_assert_num_queries):
    created = account_id(currency="EUR", code="platform:fees")
    assert created == get_or_create_account(currency="EUR", code="platform:fees").id
    # The test's transaction never commits: the id must be looked up again.
    with django_assert_num_queries(1):
        assert account_id(currency="EUR", code="platform:fees") == created


@pytest.mark.django_db
def test_account_ids_are_remembered_after_commit(
    django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        created = account_id(currency="EUR", code="platform:fees")
    with django_assert_num_queries(0):
        assert account_id(currency="EUR", code="platform:fees") == created
    # Other limit flags are another question, answered (and refused) by the ledger.
    with pytest.raises(AccountConflict):
        account_id(currency="EUR", code="platform:fees", debits_must_not_exceed_credits=True)


@pytest.mark.django_db(transaction=True)
def test_the_idempotency_claim_is_one_committed_statement(django_assert_num_queries):
    claim = {
        "key": "k-1",
        "principal": "auth:x",
        "method": "POST",
        "path": "/api/v1/orders",
        "fingerprint": "f" * 64,
    }
    with django_assert_num_queries(1):
        assert isinstance(idempotency_key_claim(**claim), Claimed)
    assert isinstance(idempotency_key_claim(**claim), InFlight)  # committed: seen by the next
