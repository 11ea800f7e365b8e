"""Payouts: a batch is paid to the seller's bank exactly once through crashes, lost answers,
repeated and contradictory bank answers; the ledger follows every step."""

import datetime as dt
import threading
from dataclasses import replace

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ledger import chart
from ledger.models import Transfer
from ledger.selectors import account_balance
from settlement.batches import create_batches
from settlement.gateways.base import BankUnavailable
from settlement.models import Payout, PayoutStatus
from settlement.payouts import services
from tests.accounts.factories import SellerFactory
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import MONDAY, PLANS, sale

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plans")]


@pytest.fixture
def plans():
    with override_settings(CLEARHOUSE_FEE_PLANS=PLANS):
        yield


def balances(seller, currency="EUR"):
    def credit(code):
        return account_balance(chart.account(currency=currency, code=code))

    available = credit(chart.seller_available(seller.pk))
    transit = credit(chart.PAYOUTS_IN_TRANSIT)
    bank = credit(chart.BANK)
    return {
        "available": available.credit_balance,
        "available_after_pending": available.credit_balance_available,
        "in_transit": transit.credit_balance,
        "paid_out": bank.credit_balance,
    }


def a_payout(seller, amount=10_000, currency="EUR"):
    sale(seller, amount, currency=currency)
    (batch,) = create_batches(day=MONDAY, sellers=[seller.pk])
    (payout_id,) = services.create_payouts([batch.pk])
    return Payout.objects.get(pk=payout_id)


def test_a_batch_is_paid_once_and_the_ledger_follows_each_step(django_capture_on_commit_callbacks):
    seller = SellerFactory()
    payout = a_payout(seller)
    assert (payout.amount_minor, payout.iban, payout.status) == (
        10_000,
        seller.seller_profile.iban,
        "created",
    )
    # A second call for the same batch makes no second payout.
    assert services.create_payouts([payout.batch_id]) == []

    bank = FakeBank()
    payout = services.submit(payout.pk, bank)
    assert payout.status == PayoutStatus.SUBMITTED and payout.bank_reference == "BANK-1"
    assert balances(seller) == {
        "available": 10_000,
        "available_after_pending": 0,
        "in_transit": 0,
        "paid_out": 0,
    }

    payout = services.apply_bank_answer(bank.settle(payout.bank_id, "paid"))
    assert payout.status == PayoutStatus.PAID and payout.paid_at
    assert balances(seller) == {
        "available": 0,
        "available_after_pending": 0,
        "in_transit": 0,
        "paid_out": 10_000,
    }
    # The same answer again (a duplicate callback) changes nothing; nor does a late "accepted".
    services.apply_bank_answer(bank.transfers[payout.bank_id])
    services.submit(payout.pk, bank)
    assert bank.submits == 1
    assert balances(seller)["paid_out"] == 10_000
    assert list(payout.events.values_list("kind", flat=True)) == ["submitted", "paid"]


def test_a_rejected_payout_gives_the_money_back_and_is_paid_again_once_the_account_is_fixed():
    seller = SellerFactory()
    payout = a_payout(seller)
    payout = services.submit(payout.pk, FakeBank(settle_as="rejected"))
    assert (payout.status, payout.failure_code) == (PayoutStatus.FAILED, "invalid_account")
    assert balances(seller)["available_after_pending"] == 10_000
    # Not paid again until the seller changes the account.
    assert services.retry_unpaid_batches() == []
    profile = seller.seller_profile
    profile.iban = "DE02120300000000202051"
    profile.save()
    (again,) = services.retry_unpaid_batches()
    again = services.submit(again, FakeBank(settle_as="paid"))
    assert (again.status, again.iban, again.batch_id) == ("paid", profile.iban, payout.batch_id)
    assert balances(seller)["available"] == 0


def test_a_returned_payout_credits_the_seller_back_and_a_newer_paid_is_a_case_not_a_change():
    seller = SellerFactory()
    payout = a_payout(seller, 4_200)
    bank = FakeBank(settle_as="paid")
    services.submit(payout.pk, bank)
    payout = services.apply_bank_answer(bank.settle(payout.bank_id, "returned", "closed_account"))
    assert (payout.status, payout.failure_code) == (PayoutStatus.RETURNED, "closed_account")
    assert balances(seller) == {
        "available": 4_200,
        "available_after_pending": 4_200,
        "in_transit": 0,
        "paid_out": 0,
    }
    # The bank says "paid" again, at a time after the return: that contradicts it.
    services.apply_bank_answer(bank.settle(payout.bank_id, "paid"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED
    (case,) = payout.events.filter(kind="contradiction")
    assert (case.data["bank"], case.data["status"]) == ("paid", "returned")
    assert case.data["bank_time"] > case.data["bank_status_at"]
    assert balances(seller)["available"] == 4_200


def returned_after(seller, *, paid_applied: bool):
    """A payout the bank paid, then sent back, the return applied; and the bank's "paid" answer
    from before the return (applied first, or lost), to be applied late."""
    payout = a_payout(seller, 3_100)
    bank = FakeBank()
    services.submit(payout.pk, bank)
    paid = bank.settle(payout.bank_id, "paid")
    if paid_applied:
        services.apply_bank_answer(paid)
    payout = services.apply_bank_answer(bank.settle(payout.bank_id, "returned", "closed_account"))
    assert payout.status == PayoutStatus.RETURNED
    return payout, paid


@pytest.mark.parametrize("paid_applied", [True, False], ids=["paid_applied", "paid_lost"])
def test_a_paid_answer_from_before_the_return_arriving_late_changes_nothing_and_is_no_case(
    paid_applied, caplog
):
    # A callback retried after the return's, or a status or submit answer the bank gave before
    # the return and applied after it: the bank's time of that "paid" is before the return's.
    seller = SellerFactory()
    payout, paid = returned_after(seller, paid_applied=paid_applied)
    before = balances(seller)
    events = list(payout.events.values_list("kind", flat=True))

    with caplog.at_level("INFO", logger="settlement.payouts.answers"):
        late = services.apply_bank_answer(paid)

    assert late.status == PayoutStatus.RETURNED
    payout.refresh_from_db()
    assert (payout.status, payout.failure_code) == (PayoutStatus.RETURNED, "closed_account")
    assert list(payout.events.values_list("kind", flat=True)) == events
    assert not payout.events.filter(kind="contradiction").exists()
    assert (
        balances(seller)
        == before
        == {
            "available": 3_100,
            "available_after_pending": 3_100,
            "in_transit": 0,
            "paid_out": 0,
        }
    )
    (record,) = [r for r in caplog.records if "arriving late" in r.getMessage()]
    assert record.levelname == "INFO"


def test_a_paid_at_the_very_time_of_the_return_is_late_not_a_case():
    seller = SellerFactory()
    payout, paid = returned_after(seller, paid_applied=True)
    services.apply_bank_answer(replace(paid, occurred_at=payout.bank_status_at))
    assert not payout.events.filter(kind="contradiction").exists()


@pytest.mark.parametrize("unknown", ["paid", "returned"])
def test_a_paid_after_returned_whose_order_the_bank_did_not_say_is_a_case(unknown):
    # Without the bank's times (a gateway that does not give them, a payout returned before they
    # were kept) a "paid" after "returned" cannot be shown to be older: a case, as before.
    seller = SellerFactory()
    payout, paid = returned_after(seller, paid_applied=True)
    if unknown == "paid":
        paid = replace(paid, occurred_at=None)
    else:
        Payout.objects.filter(pk=payout.pk).update(bank_status_at=None)
    services.apply_bank_answer(paid)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED
    assert payout.events.filter(kind="contradiction").count() == 1


def test_each_state_keeps_the_bank_s_time_of_it():
    seller = SellerFactory()
    payout = a_payout(seller, 800)
    bank = FakeBank()
    payout = services.submit(payout.pk, bank)
    assert payout.bank_status_at == bank.transfers[payout.bank_id].occurred_at
    paid = bank.settle(payout.bank_id, "paid")
    payout = services.apply_bank_answer(paid)
    assert payout.bank_status_at == paid.occurred_at
    assert payout.events.get(kind="paid").data["bank_time"] == paid.occurred_at.isoformat()
    payout = services.apply_bank_answer(replace(paid, occurred_at=None))  # a repeat
    assert Payout.objects.get(pk=payout.pk).bank_status_at == paid.occurred_at


@pytest.mark.parametrize("final", ["paid", "rejected", "returned"])
def test_an_accepted_answer_arriving_after_the_final_one_is_stale_not_a_case(final):
    seller = SellerFactory()
    payout = a_payout(seller, 900)
    bank = FakeBank()
    services.submit(payout.pk, bank)
    accepted = bank.transfers[payout.bank_id]
    ended = services.apply_bank_answer(bank.settle(payout.bank_id, final))
    before = balances(seller)

    late = services.apply_bank_answer(accepted)

    assert late.status == ended.status
    assert not payout.events.filter(kind="contradiction").exists()
    assert balances(seller) == before


def test_a_return_whose_paid_answer_was_lost_still_posts_paid_then_returned():
    seller = SellerFactory()
    payout = a_payout(seller, 700)
    bank = FakeBank()
    services.submit(payout.pk, bank)
    payout = services.apply_bank_answer(bank.settle(payout.bank_id, "returned", "closed_account"))
    assert payout.status == PayoutStatus.RETURNED
    assert balances(seller)["available"] == 700 and balances(seller)["paid_out"] == 0


def test_after_a_lost_answer_the_next_attempt_asks_the_bank_first_and_never_pays_twice():
    seller = SellerFactory()
    payout = a_payout(seller)
    bank = FakeBank()
    bank.lose_answer = True
    with pytest.raises(BankUnavailable):
        services.submit(payout.pk, bank)
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (PayoutStatus.CREATED, 1)
    bank.lose_answer = False
    payout = services.submit(payout.pk, bank)
    assert payout.status == PayoutStatus.SUBMITTED
    assert bank.submits == 1  # the second attempt learned it from status()
    assert len(bank.transfers) == 1


def test_a_payout_the_bank_never_saw_is_submitted_by_the_retry():
    seller = SellerFactory()
    payout = a_payout(seller)
    bank = FakeBank()
    bank.down = True
    with pytest.raises(BankUnavailable):
        services.submit(payout.pk, bank)
    bank.down = False
    assert services.due_for_check() == []  # its deadline has not passed yet
    payout = services.check(payout.pk, bank)
    assert payout.status == PayoutStatus.SUBMITTED and bank.submits == 1


def test_an_answer_with_another_amount_is_a_case_and_changes_nothing():
    seller = SellerFactory()
    payout = a_payout(seller, 1_000)
    bank = FakeBank()
    services.submit(payout.pk, bank)
    services.apply_bank_answer(replace(bank.settle(payout.bank_id, "paid"), amount_minor=999))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert payout.events.filter(kind="contradiction").exists()


def test_a_seller_without_an_iban_waits_and_is_paid_once_one_is_on_file():
    seller = SellerFactory(profile__iban="", profile__bic="")
    sale(seller, 500)
    (batch,) = create_batches(day=MONDAY)
    assert services.create_payouts([batch.pk]) == []
    profile = seller.seller_profile
    profile.iban, profile.bic = "DE89370400440532013000", "COBADEFFXXX"
    profile.save()
    assert len(services.retry_unpaid_batches()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_the_same_payout_submit_and_settle_it_once():
    seller = SellerFactory()
    payout = a_payout(seller)
    bank = FakeBank(settle_as="paid")
    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            barrier.wait()
            services.submit(payout.pk, bank)
            services.apply_bank_answer(bank.transfers[payout.bank_id])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(bank.transfers) == 1 and bank.submits == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert balances(seller)["paid_out"] == 10_000 and balances(seller)["available"] == 0


# --- The sweeper (bugs the fault drill found: settlement/drill/) ---------------------------------


def sweep() -> list[str]:
    """Run the sweeper task in-process; the payout ids it asked a worker to check."""
    from unittest import mock

    from settlement.payouts import tasks

    with mock.patch.object(tasks.payout_check, "delay") as delay:
        tasks.payouts_sweep()
    return [call.args[0] for call in delay.call_args_list]


def test_the_sweeper_asks_about_a_due_payout_once_per_deadline_not_at_every_run():
    # Given a payout whose submit message is stuck behind a long queue past its deadline
    seller = SellerFactory()
    payout = a_payout(seller)
    Payout.objects.filter(pk=payout.pk).update(check_after=timezone.now() - dt.timedelta(seconds=1))

    # When the sweeper runs again and again before that check has run
    first, second, third = sweep(), sweep(), sweep()

    # Then it asked for one check, not one per run (a backlog must not feed itself)
    assert first == [str(payout.pk)]
    assert second == third == []


def test_a_payout_that_stays_due_is_asked_about_at_doubling_intervals():
    # Given a payout nobody manages to submit (its checks wait behind a long queue, or are lost)
    seller = SellerFactory()
    payout = a_payout(seller)

    # When the sweeper claims it each time it falls due
    offsets = []
    for _ in range(4):
        due = Payout.objects.get(pk=payout.pk).check_after
        offsets.append(due - payout.created_at)
        assert services.claim_due_for_check(now=due) == [payout.pk]
        assert services.claim_due_for_check(now=due) == []  # claimed: not again at once

    # Then it is asked about after its deadline, then after as long again as it has waited: a
    # handful of checks for an hour's outage, not one per deadline
    assert offsets == [dt.timedelta(minutes=minutes) for minutes in (2, 4, 8, 16)]


@override_settings(SETTLEMENT_PAYOUT_RETURN_WATCH_S=0)
def test_a_return_whose_callback_was_dropped_is_found_when_the_return_window_ends():
    # Given a paid payout that the seller's bank then sent back, its callback lost
    seller = SellerFactory()
    payout = a_payout(seller, 3_000)
    bank = FakeBank(settle_as="paid")
    services.submit(payout.pk, bank)
    bank.settle(payout.bank_id, "returned", "closed_account")
    assert balances(seller)["paid_out"] == 3_000

    # When the sweeper runs once the return window has ended
    for payout_id in sweep():
        services.check(payout_id, bank)

    # Then the platform knows of the return and the money is the seller's again
    payout.refresh_from_db()
    assert (payout.status, payout.failure_code) == (PayoutStatus.RETURNED, "closed_account")
    assert balances(seller) == {
        "available": 3_000,
        "available_after_pending": 3_000,
        "in_transit": 0,
        "paid_out": 0,
    }


@override_settings(SETTLEMENT_PAYOUT_RETURN_WATCH_S=0)
def test_a_paid_payout_is_asked_about_once_at_the_end_of_its_return_window():
    seller = SellerFactory()
    payout = a_payout(seller, 3_000)
    bank = FakeBank(settle_as="paid")
    services.submit(payout.pk, bank)

    (asked,) = sweep()
    payout = services.check(asked, bank)

    assert payout.status == PayoutStatus.PAID and payout.check_after is None
    assert sweep() == []  # the watch is over: paid stays paid
    assert balances(seller)["paid_out"] == 3_000


def test_a_late_check_from_before_the_payout_was_paid_does_not_end_its_return_watch():
    # Given a check claimed while the payout was submitted, that arrives after the paid callback
    seller = SellerFactory()
    payout = a_payout(seller, 3_000)
    bank = FakeBank()
    services.submit(payout.pk, bank)
    payout = services.apply_bank_answer(bank.settle(payout.bank_id, "paid"))
    watch_ends = payout.check_after

    # When it runs inside the return window
    payout = services.check(payout.pk, bank)

    # Then the payout is still watched until its window is over
    assert payout.status == PayoutStatus.PAID
    assert payout.check_after == watch_ends > timezone.now() + dt.timedelta(days=4)


class FailingAfter(FakeBank):
    """A bank that goes down after `answers` submits."""

    def __init__(self, answers: int) -> None:
        super().__init__()
        self.answers = answers

    def submit(self, transfer):
        if self.submits >= self.answers:
            raise BankUnavailable("the bank went away")
        return super().submit(transfer)


def test_a_task_s_payouts_are_reserved_in_one_ledger_batch_and_each_submitted_once():
    sellers = [SellerFactory() for _ in range(3)]
    payouts = [a_payout(seller, amount=1_000 * (n + 1)) for n, seller in enumerate(sellers)]
    bank = FakeBank()

    services.submit_many([p.pk for p in payouts], bank)

    assert bank.submits == 3
    after = {p.pk: p for p in Payout.objects.filter(pk__in=[p.pk for p in payouts])}
    assert {(p.status, p.attempts) for p in after.values()} == {(PayoutStatus.SUBMITTED, 1)}
    for n, seller in enumerate(sellers):
        assert balances(seller)["available_after_pending"] == 0
        assert balances(seller)["available"] == 1_000 * (n + 1)
    reserves = Transfer.objects.filter(reason="payout_reserved")
    assert reserves.count() == 3
    assert len(set(reserves.values_list("batch_id", flat=True))) == 1  # one linked batch
    # Run again (a redelivered message): nothing is sent or reserved twice.
    services.submit_many([p.pk for p in payouts], bank)
    assert (bank.submits, reserves.count()) == (3, 3)


def test_an_outage_part_way_leaves_the_rest_counted_and_the_retry_asks_about_them_first():
    payouts = [a_payout(SellerFactory()) for _ in range(3)]
    ids = sorted(p.pk for p in payouts)
    bank = FailingAfter(answers=1)

    with pytest.raises(BankUnavailable):
        services.submit_many(ids, bank)

    states = dict(Payout.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert sorted(states.values()) == ["created", "created", "submitted"]
    assert set(Payout.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    # The retry (the bank back): status first for the counted ones, then one submit each.
    bank.answers = 10
    asked = []
    status = bank.status
    bank.status = lambda *, payout_id: asked.append(payout_id) or status(payout_id=payout_id)
    services.submit_many(ids, bank)
    assert sorted(asked) == sorted(
        Payout.objects.get(pk=i).bank_id for i in ids if states[i] == "created"
    )
    assert bank.submits == 3
    assert set(Payout.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"submitted"}
