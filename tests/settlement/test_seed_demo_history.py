"""`seed_demo` on the real stack: the demo sellers' payout history is made through the product's
services against the sandbox bank process, the payouts it says were paid are the bank's own
records, and a demo seller's next batch is paid by a real Celery worker and the bank's callback."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from demo.payout_history import EUR_FORMER_IBAN, OPEN_SALE, ROUNDS, make_sale
from ledger import chart
from ledger.selectors import account_balance
from payments.models import SubOrder
from settlement.maturation import mature_due
from settlement.models import FxConversion, Payout, PayoutStatus, SettlementBatch
from settlement.payouts.tasks import make_batches
from tests.settlement import bank_process
from tests.settlement.test_payout_flow import bank_worker, callbacks_to_platform, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sandbox_bank,
    pytest.mark.django_db(transaction=True),
]

sandbox_bank = bank_process.sandbox_bank
calm_bank = bank_process.calm_bank
__all__ = ["bank_worker", "callbacks_to_platform"]  # fixtures used below

EUR_SELLER = "seller.eur@clearhouse.test"
USD_SELLER = "seller.usd@clearhouse.test"


@pytest.fixture
def demo_bank(calm_bank, settings):
    """seed_demo (this process) reaches this session's bank as the configured one."""
    settings.SANDBOX_BANK_URL = calm_bank.url
    return calm_bank


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    return out.getvalue()


def test_seed_demo_pays_the_demo_sellers_history_as_the_bank_records_it_and_the_next_batch(
    demo_bank, bank_worker, callbacks_to_platform
):
    # When the demo is seeded with the sandbox bank running
    output = seed()

    # Then the EUR seller was paid once a week for a month: every payout final, one returned
    # (its former account sends credits back) and its batch paid again to the account on file
    eur = User.objects.get(email=EUR_SELLER)
    payouts = list(Payout.objects.filter(seller=eur).order_by("created_at"))
    states = [payout.status for payout in payouts]
    assert states.count(PayoutStatus.PAID) == ROUNDS
    assert states.count(PayoutStatus.RETURNED) == 1
    assert len(payouts) == ROUNDS + 1
    returned = next(p for p in payouts if p.status == PayoutStatus.RETURNED)
    assert returned.iban == EUR_FORMER_IBAN
    paid_again = Payout.objects.get(batch=returned.batch, status=PayoutStatus.PAID)
    assert paid_again.iban == eur.seller_profile.iban
    assert SettlementBatch.objects.filter(seller=eur).count() == ROUNDS
    # Each batch's day lies in the past month
    days = sorted(SettlementBatch.objects.filter(seller=eur).values_list("period_end", flat=True))
    assert days[0] >= timezone.localdate() - dt.timedelta(days=7 * ROUNDS)
    assert days[-1] < timezone.localdate()

    # And what the platform says was paid is what the bank says, transfer by transfer and in
    # the balances of the two accounts
    gateway = demo_bank.gateway()
    paid_total = 0
    for payout in payouts:
        at_bank = gateway.status(payout_id=payout.bank_id)
        assert (at_bank.status, at_bank.amount_minor, at_bank.currency) == (
            payout.status,
            payout.amount_minor,
            payout.currency,
        )
        paid_total += payout.amount_minor if payout.status == PayoutStatus.PAID else 0
    operator = demo_bank.operator()
    assert operator.account(eur.seller_profile.iban)["balance_minor"] == paid_total
    assert operator.account(EUR_FORMER_IBAN)["balance_minor"] == 0
    bank = account_balance(chart.account(currency="EUR", code=chart.BANK))
    assert bank.credit_balance == paid_total  # the ledger's external:bank (the only payouts)
    assert (
        account_balance(
            chart.account(currency="EUR", code=chart.seller_available(eur.pk))
        ).credit_balance
        == 0
    )  # everything released was paid out

    # And the USD seller's EUR sales were converted at the seeded rate and paid in USD, each
    # week, to the seller's US account (ABA routing + account number) at the bank
    usd = User.objects.get(email=USD_SELLER)
    assert FxConversion.objects.filter(seller=usd).exists()
    usd_payouts = list(Payout.objects.filter(seller=usd))
    assert [(p.currency, p.status) for p in usd_payouts] == [("USD", PayoutStatus.PAID)] * ROUNDS
    profile = usd.seller_profile
    assert {(p.iban, p.routing_number, p.account_number) for p in usd_payouts} == {
        ("", profile.routing_number, profile.account_number)
    }
    for payout in usd_payouts:
        at_bank = gateway.status(payout_id=payout.bank_id)
        assert (at_bank.status, at_bank.amount_minor, at_bank.currency) == (
            "paid",
            payout.amount_minor,
            "USD",
        )
    (us_account,) = [
        a for a in operator.accounts() if a["routing_number"] == profile.routing_number
    ]
    assert us_account["balance_minor"] == sum(p.amount_minor for p in usd_payouts)
    # And every open state shows among the EUR seller's orders
    statuses = set(SubOrder.objects.filter(seller=eur).values_list("status", flat=True))
    assert len(statuses) >= 5, statuses
    assert "payouts:" in output

    # When the demo is seeded again, nothing is made twice
    count = Payout.objects.count()
    assert seed() == output
    assert Payout.objects.count() == count

    # When the EUR seller sells again and the hold has passed, beat's make_batches (in the
    # worker) makes today's batch and the worker pays it: the bank's callback marks it paid
    make_sale(OPEN_SALE, until="confirmed")
    assert mature_due(now=timezone.now() + dt.timedelta(days=3))["matured"] >= 1
    make_batches.apply_async(queue=bank_worker.queue)
    batch = wait_for(
        lambda: SettlementBatch.objects.filter(seller=eur, period_end=timezone.localdate()).first(),
        "today's batch",
        bank_worker,
    )
    payout = wait_for(
        lambda: Payout.objects.filter(batch=batch, status=PayoutStatus.PAID).first(),
        "the next payout paid",
        bank_worker,
    )
    at_bank = gateway.status(payout_id=payout.bank_id)
    assert (at_bank.status, at_bank.amount_minor) == ("paid", batch.net_minor)
    assert operator.account(eur.seller_profile.iban)["balance_minor"] == (
        paid_total + payout.amount_minor
    )
