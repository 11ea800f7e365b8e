"""Celery tasks of the two-sided confirmation (acks_late, idempotent, retried with backoff; the
sweeper re-drives any whose message was lost):

    settlement.acknowledgements_request(payout_id)  ask both sides of a paid payout
    settlement.acknowledgement_ask(id, reminder)    the webhook, email or order event of one ask
    settlement.acknowledgement_record(id)           an answered acknowledgement's receipts (and
                                                    the confirmation record once complete)
    settlement.acknowledgements_sweep               beat, every minute: payouts paid but never
                                                    asked, asks and records left undone,
                                                    reminders due, and windows that lapsed
"""

from __future__ import annotations

import uuid

from celery import shared_task

from settlement.confirmations import notifications, services

TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "ignore_result": True,
}


@shared_task(name="settlement.acknowledgements_request", **TASK_OPTIONS)
def acknowledgements_request(payout_id: str) -> int:
    return len(services.acknowledgements_request(payout_id))


@shared_task(name="settlement.acknowledgement_ask", **TASK_OPTIONS)
def acknowledgement_ask(ack_id: str, reminder: bool = False) -> bool:
    return notifications.ask(ack_id, reminder=reminder)


@shared_task(name="settlement.acknowledgement_record", **TASK_OPTIONS)
def acknowledgement_record(ack_id: str) -> int:
    return len(services.acknowledgement_record(ack_id))


def enqueue_asks(ack_ids: list[uuid.UUID]) -> None:
    for ack_id in ack_ids:
        acknowledgement_ask.delay(str(ack_id))


def enqueue_record(ack_id: uuid.UUID) -> None:
    acknowledgement_record.delay(str(ack_id))


@shared_task(name="settlement.acknowledgements_sweep", acks_late=True, ignore_result=True)
def acknowledgements_sweep() -> dict[str, int]:
    unasked = services.payouts_unasked()
    for payout_id in unasked:
        acknowledgements_request.delay(str(payout_id))
    asks = services.asks_due()
    enqueue_asks(asks)
    reminders = services.reminders_due()
    for ack_id in reminders:
        acknowledgement_ask.delay(str(ack_id), True)
    lapsed = services.lapse_due()  # enqueues their records on commit
    records = services.records_due()
    for ack_id in records:
        enqueue_record(ack_id)
    return {
        "payouts_asked": len(unasked),
        "asks": len(asks),
        "reminders": len(reminders),
        "lapsed": len(lapsed),
        "records": len(records),
    }
