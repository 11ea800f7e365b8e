"""The sandbox card processor's charge record in one statement: claimed and written by one
INSERT ... ON CONFLICT (a stored retryable failure under the same key is taken over; any final
answer is left as it is), committed without waiting for its WAL flush.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from core.fast_sql import ASYNC_COMMIT
from payments import conf
from payments.providers.models import SandboxCardCharge

CHARGE_FIELDS = (
    "reference",
    "status",
    "amount_minor",
    "currency",
    "captured_minor",
    "refunded_minor",
    "failure_code",
    "brand",
    "last4",
    "attempts",
)

# The charge under an idempotency key, claimed and written in one statement: a new key inserts
# (attempt 1); a stored retryable failure for the same amount is processed again (attempts + 1,
# reference and card kept, as the ORM path's save of the locked row does); anything else stored
# is left alone and the statement returns no row.
_UPSERT_CHARGE_ROW = """
    %s::text, %s::text, %s::text, %s::text, %s::text, %s::bigint, %s::text, %s::text,
    %s::bigint, 0, %s::text, %s::timestamptz, 1, %s::timestamptz, %s::timestamptz"""

_UPSERT_CHARGE_CONFLICT = """
ON CONFLICT (idempotency_key) DO UPDATE
   SET attempts = c.attempts + 1, status = EXCLUDED.status, failure_code = EXCLUDED.failure_code,
       captured_minor = EXCLUDED.captured_minor,
       challenge_expires_at = EXCLUDED.challenge_expires_at, updated_at = EXCLUDED.updated_at
 WHERE c.failure_code = ANY (%s::text[]) AND c.amount_minor = EXCLUDED.amount_minor
   AND c.currency = EXCLUDED.currency
RETURNING c.reference, c.status, c.amount_minor, c.currency, c.captured_minor, c.refunded_minor,
          c.failure_code, c.brand, c.last4, c.attempts
"""

_UPSERT_CHARGE_INTO = """
INSERT INTO payments_sandboxcardcharge AS c (
    reference, idempotency_key, card_token, brand, last4, amount_minor, currency, status,
    captured_minor, refunded_minor, failure_code, challenge_expires_at, attempts, created_at,
    updated_at)"""

UPSERT_CHARGE = f"{_UPSERT_CHARGE_INTO} VALUES ({_UPSERT_CHARGE_ROW}) {_UPSERT_CHARGE_CONFLICT}"

# The processor's own record commits without waiting for its WAL flush: it stands for a remote
# processor's bookkeeping, not the platform's. The platform's next step on this connection (the
# payment's authorised, failed or 3-D Secure state) commits synchronously and flushes it too; a
# charge lost in a crash before that is lost with the payment's progress, and the recovery's retry
# under the same idempotency key makes it again.
UPSERT_CHARGE_ASYNC = (  # constants only
    f"{_UPSERT_CHARGE_INTO} SELECT {_UPSERT_CHARGE_ROW} FROM {ASYNC_COMMIT}"  # noqa: S608
    f" {_UPSERT_CHARGE_CONFLICT}"
)


def charge_state(
    outcome: str, *, capture: bool, amount_minor: int, now: datetime | None = None
) -> tuple[str, str, datetime | None, int]:
    """(status, failure_code, challenge_expires_at, captured_minor) of a charge attempt whose
    card decided `outcome` (_decide), as create_charge stores it."""
    if outcome == "success":
        return ("captured", "", None, amount_minor) if capture else ("authorized", "", None, 0)
    if outcome == "three_d_secure":
        timeout = timedelta(seconds=int(conf.get("PAYMENTS_3DS_TIMEOUT_S")))
        return "requires_action", "", (now or timezone.now()) + timeout, 0
    return "failed", outcome, None, 0


def charge_dict(charge: SandboxCardCharge) -> dict:
    return {
        "reference": charge.reference,
        "status": charge.status,
        "amount_minor": charge.amount_minor,
        "currency": charge.currency,
        "captured_minor": charge.captured_minor,
        "refunded_minor": charge.refunded_minor,
        "failure_code": charge.failure_code,
        "brand": charge.brand,
        "last4": charge.last4,
        "attempts": charge.attempts,
    }
