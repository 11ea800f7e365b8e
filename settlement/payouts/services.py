"""Payouts: one attempt to pay a settlement batch to the seller's bank, exactly once.

States: created -> submitted -> paid, or -> failed (the bank rejected it; the reserve is voided)
or paid -> returned (the seller's bank sent it back; the money is credited back to available).
failed and returned are final for the payout; the batch is paid again by a new payout once the
seller has changed the bank account (retry_returned_batches).

Exactly once at the bank: the payout's id is the bank's idempotency key. Before a submit the
attempt is counted in its own committed transaction; a worker that finds an attempt already
counted (its predecessor died, or the answer was lost) asks the bank for the payout's status
first and submits only if the bank never saw it. A worker submits a few payouts per task
(SUBMIT_CHUNK): their attempts are counted and their money reserved together (one lock of the
payouts, one linked ledger batch), then each is sent over the same kept-alive connection and its
answer applied on its own, so a crash or an outage part way leaves the rest counted, to be asked
about first. Bank answers, whether from the submit, a status query or a callback, all go through
apply_bank_answer under the payout's row lock; an answer that contradicts a final state changes
nothing and is kept as a case for staff.

The sweeper asks the bank about every payout whose `check_after` has passed: created or submitted
too long (a lost message, a dropped callback), and paid ones once their return window has ended
(a return whose callback was lost would otherwise never be known). It claims each such payout
as it asks (pushing `check_after` on by the deadline or by as long as the payout has waited), so
however often the sweeper runs, a payout's checks are few and do not pile up behind a queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import NotFound
from ledger.errors import BatchFailed
from ledger.services import TransferRequest
from settlement.gateways.base import (
    BankError,
    BankGateway,
    BankUnavailable,
    CreditTransfer,
    TransferResult,
)
from settlement.models import FINAL_PAYOUT_STATUSES, Payout, PayoutEvent, PayoutStatus
from settlement.payouts import ledger
from settlement.payouts.crash_points import crash_point

logger = logging.getLogger(__name__)


def check_after(status: str) -> dt.timedelta | None:
    """How long a payout may sit in `status` before the sweeper asks the bank about it (None: it
    is not watched). A paid payout is asked once, when the bank's return window has ended.
    Settings SETTLEMENT_PAYOUT_*_S; the drill makes them seconds."""
    seconds = {
        PayoutStatus.CREATED: settings.SETTLEMENT_PAYOUT_CREATED_CHECK_S,
        PayoutStatus.SUBMITTED: settings.SETTLEMENT_PAYOUT_SUBMITTED_CHECK_S,
        PayoutStatus.PAID: settings.SETTLEMENT_PAYOUT_RETURN_WATCH_S,
    }.get(status)
    return None if seconds is None else dt.timedelta(seconds=seconds)


# How long a final state may wait for its notification task before the sweeper re-enqueues it.
NOTIFY_AFTER = dt.timedelta(minutes=5)


# Payouts per submit task: one task, one lock of the payouts and one ledger call for the reserves
# of them all, and one keep-alive connection to the bank, instead of one of each per payout. Small
# enough that a task retried after the bank went away re-asks about few payouts.
SUBMIT_CHUNK = 20


def _enqueue_submit(payout_ids: Sequence[uuid.UUID]) -> None:
    from settlement.payouts.tasks import payouts_submit  # the tasks module imports this one

    ids = [str(payout_id) for payout_id in payout_ids]
    for start in range(0, len(ids), SUBMIT_CHUNK):
        payouts_submit.delay(ids[start : start + SUBMIT_CHUNK])


# A seller the bank can pay: an IBAN account, or a US account (ABA routing + account number).
# Others (domestic accounts elsewhere) wait, their batches unpaid, until one is on file.
_PAYABLE = (
    "(sp.iban <> '' OR (sp.country = 'US' AND sp.routing_number <> '' AND sp.account_number <> ''))"
)

_CREATE_PAYOUTS = f"""
INSERT INTO settlement_payout
       (id, batch_id, seller_id, amount_minor, currency, status, creditor_name, iban, bic,
        routing_number, account_number, bank_reference, failure_code, failure_message,
        check_after, attempts, created_at, updated_at)
SELECT gen_random_uuid(), b.id, b.seller_id, b.net_minor, b.currency, 'created',
       coalesce(nullif(sp.bank_account_holder, ''), sp.legal_name), sp.iban, sp.bic,
       CASE WHEN sp.iban = '' THEN sp.routing_number ELSE '' END,
       CASE WHEN sp.iban = '' THEN sp.account_number ELSE '' END, '', '', '',
       now() + %s::interval, 0, now(), now()
  FROM settlement_settlementbatch b
  JOIN accounts_sellerprofile sp ON sp.user_id = b.seller_id
 WHERE b.id = ANY(%s::uuid[]) AND {_PAYABLE}
   AND NOT EXISTS (SELECT 1 FROM settlement_payout p
                    WHERE p.batch_id = b.id AND p.status IN ('created', 'submitted', 'paid'))
ON CONFLICT DO NOTHING
RETURNING id
"""  # noqa: S608 - a fixed condition, values bound


def create_payouts(batch_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """One payout for each of these batches that has none alive, to the seller's account (IBAN,
    or a US account; a seller without one the bank can pay waits: the batch is paid once one is
    on file). Submission is enqueued on commit. Set-based; safe to repeat (a unique key allows one live payout a batch)."""
    if not batch_ids:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CREATE_PAYOUTS, [check_after(PayoutStatus.CREATED), [str(i) for i in batch_ids]]
        )
        ids = [row[0] for row in cursor.fetchall()]
        transaction.on_commit(lambda: _enqueue_submit(ids))
    return ids


def unpaid_batch_ids() -> list[uuid.UUID]:
    """Batches with no live payout, whose seller has an account the bank can pay on file and
    changed the profile since the last payout failed or came back (or that never had a payout)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT b.id FROM settlement_settlementbatch b
              JOIN accounts_sellerprofile sp ON sp.user_id = b.seller_id AND {_PAYABLE}
             WHERE NOT EXISTS (SELECT 1 FROM settlement_payout p WHERE p.batch_id = b.id
                                  AND p.status IN ('created', 'submitted', 'paid'))
               AND sp.updated_at > coalesce(
                     (SELECT max(coalesce(p.returned_at, p.failed_at)) FROM settlement_payout p
                       WHERE p.batch_id = b.id), '-infinity')
            """  # noqa: S608 - a fixed condition
        )
        return [row[0] for row in cursor.fetchall()]


def retry_unpaid_batches() -> list[uuid.UUID]:
    """Pay again every batch whose payout failed or came back once the seller fixed the bank
    account, and every batch that waited for an account."""
    return create_payouts(unpaid_batch_ids())


def _lock(payout_id: uuid.UUID | str) -> Payout:
    try:
        return Payout.objects.select_for_update().get(pk=payout_id)
    except (Payout.DoesNotExist, ValueError):
        raise NotFound("No such payout.", code="payout_not_found") from None


def _event(payout: Payout, kind: str, **data) -> None:
    PayoutEvent.objects.create(payout=payout, kind=kind, data=data)


def _contradiction(payout: Payout, **data) -> PayoutEvent:
    """A bank answer that contradicts what the payout is: a case for staff; nothing changes."""
    return PayoutEvent(payout=payout, kind="contradiction", data=data)


def _begin_attempts(payout_ids: Sequence[uuid.UUID | str]) -> list[Payout]:
    """Count a submit attempt of each of these payouts still created (reserving the money on the
    first attempt) in one transaction of its own, so that a crash after the bank call still leaves
    the attempt on record. The payouts are locked in id order; the reserves are one linked ledger
    batch (one lock of platform:payouts_in_transit for them all). Returns the payouts to submit."""
    ledger.prepare_accounts(
        Payout.objects.filter(pk__in=payout_ids, status=PayoutStatus.CREATED, attempts=0)
        .values_list("seller_id", "currency")
        .distinct()
    )
    with transaction.atomic():
        payouts = list(
            Payout.objects.select_for_update(of=("self",))
            .select_related("batch")
            .filter(pk__in=payout_ids, status=PayoutStatus.CREATED)
            .order_by("pk")
        )
        if not payouts:
            return []
        unreserved = _reserve([payout for payout in payouts if payout.attempts == 0])
        payouts = [payout for payout in payouts if payout.pk not in unreserved]
        now = timezone.now()
        due = now + check_after(PayoutStatus.CREATED)
        Payout.objects.filter(pk__in=[payout.pk for payout in payouts]).update(
            attempts=F("attempts") + 1, check_after=due, updated_at=now
        )
        for payout in payouts:
            payout.attempts, payout.check_after, payout.updated_at = payout.attempts + 1, due, now
        return payouts


def _reserve(payouts: list[Payout]) -> set[uuid.UUID]:
    """Reserve these payouts' money in one ledger call; the ids of those the ledger refused (left
    as they are, and out of this attempt: the sweeper tries them again later)."""
    refused: set[uuid.UUID] = set()
    while payouts:
        try:
            ledger.reserve(payouts)
            break
        except BatchFailed as failure:  # all or none: leave the refused one out, post the rest
            bad = payouts[failure.index]
            logger.error("payout %s: the ledger refused its reserve: %s", bad.pk, failure.reason)
            refused.add(bad.pk)
            payouts = payouts[: failure.index] + payouts[failure.index + 1 :]
    return refused


def submit_many(payout_ids: Sequence[uuid.UUID | str], gateway: BankGateway) -> None:
    """Send these payouts still created to the bank, together (gateway.submit_many: one request
    to a bank that takes several), having asked first about each whose earlier attempt was
    counted; then apply the answers together (apply_bank_answers: one transaction). A payout the
    bank refused fails here. BankUnavailable propagates once the answers had so far are applied:
    the caller retries later, and the next try asks about each counted payout first."""
    answers: list[TransferResult] = []
    try:
        to_send: list[Payout] = []
        for payout in _begin_attempts(payout_ids):
            crash_point("submit.before_bank", _attempt(payout))
            known = gateway.status(payout_id=payout.bank_id) if payout.attempts > 1 else None
            if known is not None:
                answers.append(known)
            else:
                to_send.append(payout)
        outage: BankUnavailable | None = None
        try:
            results = gateway.submit_many([_credit_transfer(payout) for payout in to_send])
        except BankUnavailable as unknown:
            outage, results = unknown, list(unknown.answered)
        for payout, result in zip(to_send, results, strict=False):
            if isinstance(result, BankError):
                _fail_refused(payout.pk, result)
                continue
            crash_point("submit.after_bank", _attempt(payout))
            answers.append(result)
        if outage is not None:
            raise outage
    finally:
        if answers:
            apply_bank_answers(answers)


def submit(payout_id: uuid.UUID | str, gateway: BankGateway) -> Payout:
    """submit_many for one payout; the payout as it stands after. NotFound for an unknown id."""
    _get(payout_id)
    submit_many([payout_id], gateway)
    return Payout.objects.get(pk=payout_id)


def _get(payout_id: uuid.UUID | str) -> Payout:
    try:
        return Payout.objects.get(pk=payout_id)
    except (Payout.DoesNotExist, ValueError, ValidationError):
        raise NotFound("No such payout.", code="payout_not_found") from None


def _attempt(payout: Payout) -> str:
    """This attempt's key for the drill's crash points."""
    return f"{payout.bank_id}:{payout.attempts}"


def _credit_transfer(payout: Payout) -> CreditTransfer:
    return CreditTransfer(
        payout_id=payout.bank_id,
        amount_minor=payout.amount_minor,
        currency=payout.currency,
        creditor_name=payout.creditor_name,
        iban=payout.iban,
        bic=payout.bic,
        remittance=f"Clearhouse payout {payout.batch.period_end:%Y-%m-%d}",
        routing_number=payout.routing_number,
        account_number=payout.account_number,
    )


def _fail_refused(payout_id: uuid.UUID, refused: BankError) -> Payout:
    """The bank refused the request itself (not the transfer): nothing was sent."""
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout.status != PayoutStatus.CREATED:
            return payout
        payout = _finish(
            payout,
            PayoutStatus.FAILED,
            failure_code=refused.code,
            failure_message=refused.message[:255],
        )
        ledger.post(ledger.void(payout, ledger.accounts_for([payout])))
        return payout


def check(payout_id: uuid.UUID | str, gateway: BankGateway) -> Payout:
    """Ask the bank about a payout that has waited past its deadline (or a paid one whose return
    window has ended), and apply the answer."""
    payout = Payout.objects.get(pk=payout_id)
    if payout.status == PayoutStatus.CREATED:
        return submit(payout_id, gateway)  # status first when an attempt was made
    # A paid payout is asked about once its return window is over; a check that comes earlier
    # (one claimed while it was submitted, arriving late) must not end the watch.
    window_over = (
        payout.status == PayoutStatus.PAID
        and payout.check_after is not None
        and payout.paid_at + check_after(PayoutStatus.PAID) <= timezone.now()
    )
    if payout.status != PayoutStatus.SUBMITTED and not window_over:
        return payout
    known = gateway.status(payout_id=payout.bank_id)
    if known is None:  # the bank answered about it once: it cannot have forgotten
        logger.error("bank does not know %s payout %s", payout.status, payout.pk)
        with transaction.atomic():
            payout = _lock(payout_id)
            _event(payout, "contradiction", bank_status=None, status=payout.status)
            payout.check_after = timezone.now() + check_after(PayoutStatus.SUBMITTED)
            payout.save(update_fields=["check_after", "updated_at"])
        return payout
    payout = apply_bank_answer(known)
    if window_over and payout.status == PayoutStatus.PAID:
        payout = _end_return_watch(payout.pk)
    return payout


def _end_return_watch(payout_id: uuid.UUID) -> Payout:
    """The bank still says paid when the return window is over: stop asking."""
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout.status == PayoutStatus.PAID and payout.check_after is not None:
            payout.check_after = None
            payout.save(update_fields=["check_after", "updated_at"])
        return payout


def _enqueue_notify(payout_id: uuid.UUID) -> None:
    from settlement.payouts.tasks import payout_notify  # the tasks module imports this one

    payout_notify.delay(str(payout_id))


# What _finish changes on a payout: written field by field when one batch of answers is applied.
_FINISH_FIELDS = (
    "status",
    "submitted_at",
    "paid_at",
    "failed_at",
    "returned_at",
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
       failed_at timestamptz, returned_at timestamptz, bank_reference text, failure_code text,
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


def _finish(payout: Payout, status: str, writes: _Writes | None = None, **fields) -> Payout:
    """Move the payout to `status` with its time stamp and history event: saved now, or, given
    `writes`, written with the rest of its transaction's answers."""
    now = timezone.now()
    stamp = {
        PayoutStatus.PAID: "paid_at",
        PayoutStatus.FAILED: "failed_at",
        PayoutStatus.RETURNED: "returned_at",
        PayoutStatus.SUBMITTED: "submitted_at",
    }[status]
    payout.status = status
    setattr(payout, stamp, now)
    for name, value in fields.items():
        setattr(payout, name, value)
    wait = check_after(status)
    payout.check_after = None if wait is None else now + wait
    payout.notified_at = None  # a new outcome to tell (returned after paid)
    payout.updated_at = now
    event = PayoutEvent(
        payout=payout,
        kind=status,
        data={k: v for k, v in fields.items() if isinstance(v, str | int)},
    )
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


def known_payout_ids(bank_ids: Sequence[str]) -> set[str]:
    """Those of these bank-side payout ids (TransferResult.payout_id) that name a payout."""
    parsed = {bank_id: _as_hex(bank_id) for bank_id in bank_ids}
    wanted = [hex_id for hex_id in parsed.values() if hex_id]
    found = {pk.hex for pk in Payout.objects.filter(pk__in=wanted).values_list("pk", flat=True)}
    return {bank_id for bank_id, hex_id in parsed.items() if hex_id in found}


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
    id order (a worker's answers to the payouts of one task): one commit, not one each. The
    ledger transfers of all the answers are posted together, last (ledger.post)."""
    with transaction.atomic():
        ids = {answer.payout_id for answer in answers}
        try:
            locked = {
                payout.bank_id: payout
                for payout in Payout.objects.select_for_update().filter(pk__in=ids).order_by("pk")
            }
        except ValidationError:
            raise NotFound("No such payout.", code="payout_not_found") from None
        if len(locked) != len(ids):
            raise NotFound("No such payout.", code="payout_not_found")
        writes = _Writes()
        accounts = ledger.accounts_for(locked.values())
        applied = [
            _apply(locked[uuid.UUID(answer.payout_id).hex], answer, accounts, writes)
            for answer in answers
        ]
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
    live = status in (PayoutStatus.CREATED, PayoutStatus.SUBMITTED)
    if said == "accepted" and status == PayoutStatus.CREATED:
        return _finish(payout, PayoutStatus.SUBMITTED, writes, **refs)
    if said == "paid" and live:
        writes.transfers += ledger.settle(payout, accounts)
        return _finish(payout, PayoutStatus.PAID, writes, **refs)
    if said == "rejected" and live:
        writes.transfers += ledger.void(payout, accounts)
        return _finish(payout, PayoutStatus.FAILED, writes, **refs, **failure)
    if said == "returned" and (live or status == PayoutStatus.PAID):
        if live:  # the "paid" answer was lost: it was paid before it came back
            writes.transfers += ledger.settle(payout, accounts)
            payout.paid_at = timezone.now()
        writes.transfers += ledger.give_back(payout, accounts)
        return _finish(payout, PayoutStatus.RETURNED, writes, **refs, **failure)
    if (said, status) in {
        ("accepted", PayoutStatus.SUBMITTED),
        ("paid", PayoutStatus.PAID),
        ("rejected", PayoutStatus.FAILED),
        ("returned", PayoutStatus.RETURNED),
    } or (said == "accepted" and status in FINAL_PAYOUT_STATUSES):
        # A repeat, or an older answer arriving late: "accepted" comes before every final state
        # (a worker's submit answer applied after the callback that ended the transfer).
        return payout
    writes.events.append(_contradiction(payout, bank=said, status=status))
    logger.error("bank says %s for payout %s, which is %s", said, payout.pk, status)
    return payout


def due_for_notify(*, now: dt.datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Payouts in a final state whose parties were not told of it within NOTIFY_AFTER (the
    notification's task message was lost): the sweeper enqueues it again (idempotent)."""
    before = (now or timezone.now()) - NOTIFY_AFTER
    return list(
        Payout.objects.filter(
            status__in=FINAL_PAYOUT_STATUSES, notified_at__isnull=True, updated_at__lte=before
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def due_for_check(*, now: dt.datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Payouts past their `check_after` (created or submitted too long; paid at the end of the
    return window), oldest first. Read-only: the sweeper claims them with claim_due_for_check."""
    return list(
        Payout.objects.filter(check_after__lte=now or timezone.now())
        .order_by("check_after")
        .values_list("pk", flat=True)[:limit]
    )


# A claimed payout is due again, should this check never report back (its message lost, or
# waiting behind a long queue), after its deadline or after as long again as it has already
# waited in its state, whichever is longer: the checks of a payout stuck for an hour are a
# handful, not one per deadline, and a backlog of checks cannot keep feeding itself.
_CLAIM_DUE = """
UPDATE settlement_payout p
   SET check_after = %(now)s + CASE p.status
           WHEN 'created' THEN greatest(%(created)s::interval, %(now)s - p.created_at)
           WHEN 'submitted' THEN greatest(%(submitted)s::interval,
                                          %(now)s - coalesce(p.submitted_at, p.created_at))
           ELSE %(submitted)s::interval END
 WHERE p.id IN (SELECT id FROM settlement_payout
                 WHERE check_after <= %(now)s
                 ORDER BY check_after
                 LIMIT %(limit)s
                   FOR UPDATE SKIP LOCKED)
RETURNING p.id
"""


def claim_due_for_check(*, now: dt.datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """The payouts due_for_check would name, each claimed: its `check_after` pushed on in the
    same statement (see _CLAIM_DUE), so the next sweeps leave it alone while this check runs.
    Safe when two sweeps overlap (rows another has locked are skipped)."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_DUE,
            {
                "now": now,
                "created": check_after(PayoutStatus.CREATED),
                "submitted": check_after(PayoutStatus.SUBMITTED),
                "limit": limit,
            },
        )
        return [row[0] for row in cursor.fetchall()]
