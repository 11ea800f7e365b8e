"""When the sweeper looks at a payout: how long each state may last before the bank is asked
about it (check_after), and which payouts are due for a check or for their notification again.

A claimed payout is pushed on by its deadline or by as long as it has already waited, so however
often the sweeper runs, a payout's checks are few and do not pile up behind a queue."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from settlement.models import FINAL_PAYOUT_STATUSES, Payout, PayoutStatus


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
