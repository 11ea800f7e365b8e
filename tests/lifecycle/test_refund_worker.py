"""End to end with a real Celery worker: a refund reserved by the service is paid back by the
worker's refund_execute task (enqueued on commit) and settled in the ledger."""

from __future__ import annotations

import time

import pytest

from payments.fulfilment.models import Refund
from payments.fulfilment.refunds import refund_create
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import assert_trial_balance_zero, balance, paid_order, reload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, limit_s: float = 30) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_worker_pays_the_refund_back(celery_worker, buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    refund = refund_create(sub_order_id=sub.pk, amount_minor=10000, reason="r", actor="seller:1")
    assert wait_for(lambda: Refund.objects.get(pk=refund.pk).status == "succeeded"), (
        celery_worker.log_tail()
    )
    assert reload(sub).status == "refunded"
    assert balance("platform:escrow") == 0
    assert_trial_balance_zero()
