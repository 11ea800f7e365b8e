"""What the bank says of payouts, applied: from a submit's answer, a status query or a callback,
always under the payouts' row locks, in one transaction per call, idempotently.

An answer moves a payout on (accepted -> submitted; paid; rejected -> failed; returned), with
its ledger transfers (settlement.payouts.ledger) and the bank's own time of the new state
(Payout.bank_status_at, from TransferResult.occurred_at); a repeat or an older answer arriving
late (_stale: by the bank's order of states and its times) changes nothing; one that contradicts
a final state changes nothing and is kept as a case for staff (a "contradiction" event). The
answers applied together write their payouts in one UPDATE, their events in one INSERT and their
ledger transfers in one call, last (_Writes).
A final state enqueues the task that tells both sides (settlement.payouts.notifications).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from core.errors import NotFound
from ledger.services import TransferRequest
from settlement.gateways.base import TransferResult
from settlement.models import FINAL_PAYOUT_STATUSES, Payout, PayoutEvent, PayoutStatus
from settlement.payouts import ledger
from settlement.payouts.deadlines import check_after

logger = logging.getLogger(__name__)


def record_event(payout: Payout, kind: str, **data) -> None:
    PayoutEvent.objects.create(payout=payout, kind=kind, data=data)


def _contradiction(payout: Payout, **data) -> PayoutEvent:
    """A bank answer that contradicts what the payout is: a case for staff; nothing changes."""
    return PayoutEvent(payout=payout, kind="contradiction", data=data)


def _enqueue_notify(payout_id: uuid.UUID) -> None:
    from settlement.payouts.tasks import payout_notify  # the tasks module imports this one

    payout_notify.delay(str(payout_id))


# What finish changes on a payout: written field by field when one batch of answers is applied.
_FINISH_FIELDS = (
    "status",
    "submitted_at",
    "paid_at",
    "failed_at",
    "returned_at",
    "bank_status_at",
    "bank_reference",
    "failure_code",
    "failure_message",
    "check_after",
    "notified_at",
    "updated_at",
)


# One statement for a batch of answers' payouts (QuerySet.bulk_update builds a CASE per field and
# row in Python: most of a submit task's time at 20 payouts a task).
_UPDATE_FINISHED = f"""
UPDATE settlement_payout AS p
   SET {", ".join(f"{name} = v.{name}" for name in _FINISH_FIELDS)}
  FROM jsonb_to_recordset(%s::jsonb) AS v(
       id uuid, status text, submitted_at timestamptz, paid_at timestamptz,
       failed_at timestamptz, returned_at timestamptz, bank_status_at timestamptz,
       bank_reference text, failure_code text,
       failure_message text, check_after timestamptz, notified_at timestamptz,
       updated_at timestamptz)
 WHERE p.id = v.id
"""  # noqa: S608 - fixed column names


def _exact(value: object) -> str:
    """JSON for a time stamp to the microsecond (DjangoJSONEncoder keeps milliseconds)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Writes:
    """What the answers applied in one transaction change, written together at its end (flush):
    the payouts in one UPDATE, their events in one INSERT, the ledger transfers in one call, last
    (ledger.post)."""

    def __init__(self) -> None:
        self.payouts: dict[uuid.UUID, Payout] = {}
        self.events: list[PayoutEvent] = []
        self.transfers: list[TransferRequest] = []

    def flush(self) -> None:
        if self.payouts:
            rows = [
                {"id": str(payout.pk), **{name: getattr(payout, name) for name in _FINISH_FIELDS}}
                for payout in self.payouts.values()
            ]
            with connection.cursor() as cursor:
                cursor.execute(_UPDATE_FINISHED, [json.dumps(rows, default=_exact)])
        if self.events:
            PayoutEvent.objects.bulk_create(self.events)
        ledger.post(self.transfers)


def finish(
    payout: Payout,
    status: str,
    writes: _Writes | None = None,
    *,
    bank_time: dt.datetime | None = None,
    **fields,
) -> Payout:
    """Move the payout to `status` with its time stamp and history event: saved now, or, given
    `writes`, written with the rest of its transaction's answers. `bank_time` is the bank's own
    time of that state (TransferResult.occurred_at), None when the bank did not say."""
    now = timezone.now()
    stamp = {
        PayoutStatus.PAID: "paid_at",
        PayoutStatus.FAILED: "failed_at",
        PayoutStatus.RETURNED: "returned_at",
        PayoutStatus.SUBMITTED: "submitted_at",
    }[status]
    payout.status = status
    setattr(payout, stamp, now)
    payout.bank_status_at = bank_time
    for name, value in fields.items():
        setattr(payout, name, value)
    wait = check_after(status)
    payout.check_after = None if wait is None else now + wait
    payout.notified_at = None  # a new outcome to tell (returned after paid)
    payout.updated_at = now
    data = {k: v for k, v in fields.items() if isinstance(v, str | int)}
    if bank_time is not None:
        data["bank_time"] = bank_time.isoformat()
    event = PayoutEvent(payout=payout, kind=status, data=data)
    if writes is None:
        payout.save()
        event.save()
    else:
        writes.payouts[payout.pk] = payout
        writes.events.append(event)
    if status != PayoutStatus.SUBMITTED:
        # Both sides are told (settlement/payouts/notifications.py) by a task enqueued here, by
        # name rather than through registered listeners: the step's outcome and who hears of it
        # read in one place. On commit, robust: a broker outage must not undo a bank's answer.
        transaction.on_commit(lambda: _enqueue_notify(payout.pk), robust=True)
    return payout


def lock_payouts(bank_ids: Sequence[str]) -> dict[str, Payout]:
    """The payouts these bank-side ids (TransferResult.payout_id) name, locked in id order,
    keyed by the ids as given; an id that names no payout is left out. In the caller's
    transaction."""
    given: dict[str, list[str]] = {}
    for bank_id in bank_ids:
        hex_id = _as_hex(bank_id)
        if hex_id:
            given.setdefault(hex_id, []).append(bank_id)
    locked: dict[str, Payout] = {}
    for payout in Payout.objects.select_for_update().filter(pk__in=given).order_by("pk"):
        for bank_id in given[payout.bank_id]:
            locked[bank_id] = payout
    return locked


def _as_hex(bank_id: str) -> str | None:
    try:
        return uuid.UUID(bank_id).hex
    except (ValueError, TypeError, AttributeError):
        return None


def apply_bank_answer(answer: TransferResult) -> Payout:
    """Apply what the bank says of a payout, under its row lock. Idempotent: a repeated answer
    changes nothing; one that contradicts a final state changes nothing and opens a case."""
    return apply_bank_answers([answer])[0]


def apply_bank_answers(answers: Sequence[TransferResult]) -> list[Payout]:
    """apply_bank_answer for several payouts in one transaction, their rows locked together in
    id order (a worker's answers to the payouts of one task): one commit, not one each.
    NotFound (nothing applied) if one names no payout."""
    with transaction.atomic():
        locked = lock_payouts([answer.payout_id for answer in answers])
        if any(answer.payout_id not in locked for answer in answers):
            raise NotFound("No such payout.", code="payout_not_found")
        return apply_locked(locked, answers)


def apply_locked(locked: dict[str, Payout], answers: Sequence[TransferResult]) -> list[Payout]:
    """Apply these answers to the payouts lock_payouts locked in the caller's transaction; the
    ledger transfers of them all are posted together, last (ledger.post)."""
    writes = _Writes()
    accounts = ledger.accounts_for({locked[answer.payout_id] for answer in answers})
    applied = [_apply(locked[answer.payout_id], answer, accounts, writes) for answer in answers]
    writes.flush()
    return applied


def _apply(
    payout: Payout,
    answer: TransferResult,
    accounts: ledger.Accounts,
    writes: _Writes,
) -> Payout:
    """One answer, the payout's row locked by the caller's transaction; what it changes goes to
    `writes`, for the caller to write."""
    if answer.amount_minor != payout.amount_minor or answer.currency != payout.currency:
        writes.events.append(
            _contradiction(payout, bank=answer.status, reason="amount_or_currency")
        )
        logger.error("bank answer for payout %s has another amount", payout.pk)
        return payout
    status, said = payout.status, answer.status
    refs = {"bank_reference": answer.bank_reference or payout.bank_reference}
    failure = {"failure_code": answer.failure_code, "failure_message": answer.failure_message}
    bank_time = answer.occurred_at
    live = status in (PayoutStatus.CREATED, PayoutStatus.SUBMITTED)
    if said == "accepted" and status == PayoutStatus.CREATED:
        return finish(payout, PayoutStatus.SUBMITTED, writes, bank_time=bank_time, **refs)
    if said == "paid" and live:
        writes.transfers += ledger.settle(payout, accounts)
        return finish(payout, PayoutStatus.PAID, writes, bank_time=bank_time, **refs)
    if said == "rejected" and live:
        writes.transfers += ledger.void(payout, accounts)
        return finish(payout, PayoutStatus.FAILED, writes, bank_time=bank_time, **refs, **failure)
    if said == "returned" and (live or status == PayoutStatus.PAID):
        if live:  # the "paid" answer was lost: it was paid before it came back
            writes.transfers += ledger.settle(payout, accounts)
            payout.paid_at = timezone.now()
        writes.transfers += ledger.give_back(payout, accounts)
        return finish(payout, PayoutStatus.RETURNED, writes, bank_time=bank_time, **refs, **failure)
    if (said, status) in {
        ("accepted", PayoutStatus.SUBMITTED),
        ("paid", PayoutStatus.PAID),
        ("rejected", PayoutStatus.FAILED),
        ("returned", PayoutStatus.RETURNED),
    }:
        return payout  # a repeat
    if _stale(payout, answer):
        logger.info(
            "bank says %s for payout %s, which is %s: an older answer arriving late, ignored",
            said,
            payout.pk,
            status,
        )
        return payout
    times = {"bank_time": bank_time, "bank_status_at": payout.bank_status_at}
    known = {name: value.isoformat() for name, value in times.items() if value is not None}
    writes.events.append(_contradiction(payout, bank=said, status=status, **known))
    logger.error("bank says %s for payout %s, which is %s", said, payout.pk, status)
    return payout


def _stale(payout: Payout, answer: TransferResult) -> bool:
    """Whether this answer, which does not fit the payout's state, is an older one arriving late
    rather than a contradiction. The bank's order is accepted -> paid or rejected, paid ->
    returned; an answer naming an earlier state than the payout's is late (a duplicated or
    retried callback delivered after the next one, a submit or status answer the bank gave before
    the change and applied after it):
      - "accepted" comes before every final state: always late;
      - "paid" after "returned" is late when the bank's own time of that "paid" is not after its
        time of the return (TransferResult.occurred_at, Payout.bank_status_at). A "paid" the bank
        gives a newer time, or one of unknown time, contradicts the return: a case for staff.
    """
    if answer.status == "accepted":
        return payout.status in FINAL_PAYOUT_STATUSES
    if answer.status == "paid" and payout.status == PayoutStatus.RETURNED:
        said_at, state_at = answer.occurred_at, payout.bank_status_at
        return said_at is not None and state_at is not None and said_at <= state_at
    return False
