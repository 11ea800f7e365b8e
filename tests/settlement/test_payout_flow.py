"""A seller is paid end to end on the real stack: released money waits out its hold, the
`settlement.make_batches` task (a real Celery worker, through Redis) makes the batch and its
payout, the worker submits it to the sandbox bank (its own process), and the bank's callback to
the platform (live_server) marks it paid. The ledger is checked at each step."""

import datetime as dt
import random
import socket
import time

import pytest
from django.utils import timezone
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from ledger import chart
from ledger.selectors import account_balance
from settlement.maturation import mature_due
from settlement.models import BankCallbackReceipt, Payout, PayoutStatus, SettlementBatch
from settlement.payouts.tasks import make_batches
from tests.accounts.factories import SellerFactory
from tests.integration.worker import require_redis, start_worker, stop_worker
from tests.settlement import bank_process
from tests.settlement.factories import released

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sandbox_bank,
    pytest.mark.django_db(transaction=True),
]

# The sandbox bank process (one per pytest worker) and its calm knobs, for this module.
sandbox_bank = bank_process.sandbox_bank
calm_bank = bank_process.calm_bank

WAIT_S = 30
NET_MINOR = 10_000
FEE_MINOR = 290


@pytest.fixture
def bank_worker(calm_bank, django_db_blocker, tmp_path):
    """A real worker that pays through this session's sandbox bank, on a queue of its own."""
    from django.conf import settings

    require_redis()
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-payouts"
    handle = start_worker(
        consume=queue,
        queue=queue,
        nodename=f"payouts-{settings.TEST_NAMESPACE}@{socket.gethostname()}",
        log_path=tmp_path / "worker.log",
        django_db_blocker=django_db_blocker,
        extra_env={
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "SANDBOX_BANK_URL": calm_bank.url,
            "SANDBOX_BANK_TIMEOUT_S": "5",
        },
    )
    try:
        yield handle
    finally:
        stop_worker(handle)


@pytest.fixture
def callbacks_to_platform(calm_bank, live_server):
    """The bank's callbacks go to the platform's real view for this test, then back to the inbox."""
    operator = calm_bank.operator()
    operator.set_callback_url(f"{live_server.url}/settlement/bank/callbacks")
    try:
        yield
    finally:
        operator.set_callback_url(calm_bank.inbox.url)


def seller_iban() -> str:
    rng = random.Random()
    while True:
        account = f"{rng.randrange(10**10):010d}"
        iban = IBAN.generate("DE", bank_code="37040044", account_code=account).compact
        try:
            return IBAN(iban, validate_bban=True).compact
        except SchwiftyException:
            continue


def ledger_balances(seller) -> dict[str, int]:
    def balance(code):
        return account_balance(chart.account(currency="EUR", code=code))

    available = balance(chart.seller_available(seller.pk))
    transit = balance(chart.PAYOUTS_IN_TRANSIT)
    return {
        "pending": balance(chart.seller_pending(seller.pk)).credit_balance,
        "available": available.credit_balance,
        "available_after_reserve": available.credit_balance_available,
        "payouts_in_transit_pending": transit.credits_pending,
        "payouts_in_transit": transit.credit_balance,
        "external:bank": balance(chart.BANK).credit_balance,
    }


def wait_for(predicate, what: str, worker):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} not within {WAIT_S} s; worker log:\n{worker.log_tail()}")


def test_released_money_is_batched_submitted_by_the_worker_and_paid_by_the_banks_callback(
    calm_bank, bank_worker, callbacks_to_platform
):
    # Given a seller whose account is open at the bank, and a release held for 2 days
    seller = SellerFactory()
    profile = seller.seller_profile
    profile.iban = seller_iban()
    profile.save()
    calm_bank.operator().open_account(
        iban=profile.iban, holder_name=profile.bank_account_holder, currency="EUR"
    )
    calm_bank.operator().set_faults(settle_delay_ms=1_500)  # "submitted" lasts long enough to see
    released_at = timezone.now()
    released(seller, net_minor=NET_MINOR, fee_minor=FEE_MINOR, released_at=released_at)
    assert ledger_balances(seller) == {
        "pending": NET_MINOR,
        "available": 0,
        "available_after_reserve": 0,
        "payouts_in_transit_pending": 0,
        "payouts_in_transit": 0,
        "external:bank": 0,
    }

    # When the hold has not elapsed nothing moves; once it has, the money is available
    assert mature_due(now=released_at + dt.timedelta(days=1))["matured"] == 0
    assert mature_due(now=released_at + dt.timedelta(days=2, minutes=1))["matured"] == 1
    assert ledger_balances(seller) == {
        "pending": 0,
        "available": NET_MINOR,
        "available_after_reserve": NET_MINOR,
        "payouts_in_transit_pending": 0,
        "payouts_in_transit": 0,
        "external:bank": 0,
    }

    # When beat's make_batches task runs in the worker
    make_batches.apply_async(queue=bank_worker.queue)

    # Then the batch is made and its payout submitted by the worker: the money is reserved
    payout = wait_for(
        lambda: Payout.objects.filter(seller=seller, status=PayoutStatus.SUBMITTED).first(),
        "a submitted payout",
        bank_worker,
    )
    batch = SettlementBatch.objects.get(seller=seller)
    assert (batch.net_minor, payout.batch_id, payout.amount_minor) == (
        NET_MINOR,
        batch.pk,
        NET_MINOR,
    )
    assert (payout.iban, payout.attempts) == (profile.iban, 1)
    assert ledger_balances(seller) == {
        "pending": 0,
        "available": NET_MINOR,
        "available_after_reserve": 0,
        "payouts_in_transit_pending": NET_MINOR,
        "payouts_in_transit": 0,
        "external:bank": 0,
    }

    # And the bank settles it and calls the platform back: paid, the money has left
    payout = wait_for(
        lambda: Payout.objects.filter(pk=payout.pk, status=PayoutStatus.PAID).first(),
        "the bank's paid callback",
        bank_worker,
    )
    receipt = BankCallbackReceipt.objects.get(payload__data__payout_id=payout.bank_id)
    assert (receipt.kind, receipt.payload["type"]) == ("transfer", "transfer.paid")
    assert list(payout.events.values_list("kind", flat=True)) == ["submitted", "paid"]
    assert ledger_balances(seller) == {
        "pending": 0,
        "available": 0,
        "available_after_reserve": 0,
        "payouts_in_transit_pending": 0,
        "payouts_in_transit": 0,
        "external:bank": NET_MINOR,
    }
    at_bank = calm_bank.gateway().status(payout_id=payout.bank_id)
    assert (at_bank.status, at_bank.amount_minor) == ("paid", NET_MINOR)
    assert calm_bank.operator().account(profile.iban)["balance_minor"] == NET_MINOR
