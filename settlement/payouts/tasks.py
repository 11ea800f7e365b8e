"""Celery tasks that move sellers' money (all acks_late and idempotent; the sweeper re-drives any
whose message was lost):

    settlement.mature_balances      beat, every minute: held releases and reserves that are due
    settlement.make_batches         beat, hourly: today's batches (once a day each), then payouts
    settlement.payouts_submit(ids)  submit a few payouts (status first for any whose attempt was
                                    made), over one connection to the bank; what create_payouts
                                    enqueues
    settlement.payout_submit(id)    the same for one payout
    settlement.payout_check(id)     ask the bank about one payout past its deadline
    settlement.payout_notify(id)    tell seller and buyers a payout's final state, and ask both
                                    sides of a paid one to acknowledge it (idempotent)
    settlement.payouts_sweep        beat, every minute: payouts past their deadline (each claimed:
                                    asked again only after its deadline or as long again as it
                                    has waited), paid ones at the end of their return window,
                                    batches to pay again after a failure once the account was
                                    fixed, and final states whose notification was lost
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from settlement.batches import create_batches
from settlement.confirmations.services import acknowledgements_request
from settlement.gateways.base import BankUnavailable
from settlement.gateways.registry import get_bank_gateway
from settlement.maturation import mature_due
from settlement.payouts import notifications, services

# Bank calls: retried with backoff (5 s doubling to 10 min) while the bank is unreachable; the
# sweeper takes over after that.
BANK_TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (BankUnavailable,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(name="settlement.mature_balances", acks_late=True, ignore_result=True)
def mature_balances() -> dict[str, int]:
    return mature_due()


@shared_task(name="settlement.make_batches", acks_late=True, ignore_result=True)
def make_batches() -> dict[str, int]:
    batches = create_batches(day=timezone.localdate())
    payouts = services.create_payouts([batch.pk for batch in batches])
    return {"batches": len(batches), "payouts": len(payouts)}


@shared_task(name="settlement.payouts_submit", **BANK_TASK_OPTIONS)
def payouts_submit(payout_ids: list[str]) -> None:
    services.submit_many(payout_ids, get_bank_gateway())


@shared_task(name="settlement.payout_submit", **BANK_TASK_OPTIONS)
def payout_submit(payout_id: str) -> str:
    return services.submit(payout_id, get_bank_gateway()).status


@shared_task(name="settlement.payout_check", **BANK_TASK_OPTIONS)
def payout_check(payout_id: str) -> str:
    return services.check(payout_id, get_bank_gateway()).status


@shared_task(
    name="settlement.payout_notify",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
    ignore_result=True,
)
def payout_notify(payout_id: str) -> dict[str, int]:
    told = notifications.notify_payout_settled(payout_id)
    # A paid payout asks both sides to acknowledge it (idempotent; nothing for other states).
    asked = acknowledgements_request(payout_id)
    return {**told, "acknowledgements": len(asked)}


@shared_task(name="settlement.payouts_sweep", acks_late=True, ignore_result=True)
def payouts_sweep() -> dict[str, int]:
    due = services.claim_due_for_check()
    for payout_id in due:
        payout_check.delay(str(payout_id))
    again = services.retry_unpaid_batches()
    untold = services.due_for_notify()
    for payout_id in untold:
        payout_notify.delay(str(payout_id))
    return {"checked": len(due), "paid_again": len(again), "notified": len(untold)}
