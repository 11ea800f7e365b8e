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
payouts, one linked ledger batch), then they are sent together (gateway.submit_many: one request
to a bank that takes several) and the answers applied together, so a crash or an outage part way
leaves the rest counted, to be asked about first. Bank answers, whether from the submit, a status
query or a callback, are applied by settlement.payouts.answers under the payouts' row locks; an
answer that contradicts a final state changes nothing and is kept as a case for staff. When the
sweeper looks again is settlement.payouts.deadlines.

The sweeper asks the bank about every payout whose `check_after` has passed: created or submitted
too long (a lost message, a dropped callback), and paid ones once their return window has ended
(a return whose callback was lost would otherwise never be known). It claims each such payout
as it asks (pushing `check_after` on by the deadline or by as long as the payout has waited), so
however often the sweeper runs, a payout's checks are few and do not pile up behind a queue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import NotFound
from ledger.errors import BatchFailed
from settlement.gateways.base import (
    BankError,
    BankGateway,
    BankUnavailable,
    CreditTransfer,
    TransferResult,
)
from settlement.models import Payout, PayoutStatus
from settlement.payouts import ledger
from settlement.payouts.answers import (
    apply_bank_answer,
    apply_bank_answers,
    finish,
    record_event,
)
from settlement.payouts.crash_points import crash_point
from settlement.payouts.deadlines import (  # noqa: F401 - the sweeper's entry points
    NOTIFY_AFTER,
    check_after,
    claim_due_for_check,
    due_for_check,
    due_for_notify,
)

logger = logging.getLogger(__name__)


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
        payout = finish(
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
            record_event(payout, "contradiction", bank_status=None, status=payout.status)
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
