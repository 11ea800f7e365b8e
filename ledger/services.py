"""Ledger writes: accounts, transfers (TigerBeetle's two-phase model), delta folding, timeouts.

Posting has one implementation, in PL/pgSQL (ledger/sql/: ledger_create_transfer for one transfer,
ledger_create_transfers for a linked batch), one round trip each, called by ledger/posting.py.
Deadlocks, serialization failures and lost races on a unique index are retried here a bounded
number of times with jittered backoff; a race lost for good ends as a clean LedgerError.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Iterable

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from ledger import chart, posting
from ledger.errors import (
    AccountConflict,
    BatchFailed,
    InvalidAccount,
    InvalidTransfer,
    LedgerBusy,
    LedgerError,
    PendingAlreadyClosed,
    ledger_error_from_code,
)
from ledger.models import Account, BalanceDelta, Transfer, TransferKind
from ledger.requests import CURRENCY_RE, TransferRequest, ValidRequest, validate_request
from ledger.selectors import Balance, account_balance

__all__ = [
    "Balance",
    "TransferRequest",
    "account_balance",
    "account_id",
    "account_ids",
    "create_transfer",
    "create_transfers",
    "create_transfers_from_query",
    "get_or_create_account",
    "ledger_fold_deltas",
    "ledger_void_expired_pendings",
    "timeout_void_id",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.004
MAX_BATCH_SIZE = 10_000
# SQLSTATEs worth another attempt: deadlock, serialization failure, lock not available, and a
# unique violation (a concurrent poster inserted the same id or closed the same pending first:
# the next attempt sees its row and answers with a replay or a clear error).
_RETRY_SQLSTATES = {"40P01", "40001", "55P03", "23505"}
_CONTENTION_SQLSTATES = {"40P01", "40001", "55P03"}
TIMEOUT_VOID_REASON = "pending_timeout"


# --- accounts ------------------------------------------------------------------------------


def get_or_create_account(
    *,
    currency: str,
    code: str,
    owner_ref: str = "",
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> Account:
    """The account (currency, code); created on first use. Limits are fixed at creation."""
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise InvalidAccount("currency must be an ISO 4217 code like 'EUR'", field="currency")
    if not isinstance(code, str) or not 0 < len(code) <= 128 or code != code.strip():
        raise InvalidAccount("code must be 1 to 128 characters, no outer spaces", field="code")
    if not isinstance(owner_ref, str) or len(owner_ref) > 64:
        raise InvalidAccount("owner_ref must be at most 64 characters", field="owner_ref")
    if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
        raise InvalidAccount("an account takes at most one limit flag", field="code")
    flags = {
        "debits_must_not_exceed_credits": bool(debits_must_not_exceed_credits),
        "credits_must_not_exceed_debits": bool(credits_must_not_exceed_debits),
    }
    account, _created = Account.objects.get_or_create(
        currency=currency, code=code, defaults={"owner_ref": owner_ref, **flags}
    )
    for name, wanted in flags.items():
        if getattr(account, name) != wanted:
            raise AccountConflict(
                f"account {code} ({currency}) exists with {name}={getattr(account, name)}",
                field=name,
            )
    if owner_ref and account.owner_ref and account.owner_ref != owner_ref:
        raise AccountConflict(
            f"account {code} ({currency}) belongs to {account.owner_ref}, not {owner_ref}",
            field="owner_ref",
        )
    return account


# Hot callers (every payment posts to the same few accounts) need only an account's id. The
# (database, currency, code, limit flags) -> id mapping never changes once committed (accounts are
# never deleted or renamed, flags are fixed at creation), so it is remembered per process, but
# only after the transaction that saw the row commits: a row created by a transaction that rolls
# back is never remembered. Tests that flush the database clear it (clear_account_id_cache).
_ACCOUNT_IDS: dict[tuple[str, str, str, bool, bool], int] = {}


def account_id(
    *,
    currency: str,
    code: str,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> int:
    """get_or_create_account(...).id without a query once this process has seen it committed."""
    key = (
        str(connection.settings_dict["NAME"]),
        currency,
        code,
        bool(debits_must_not_exceed_credits),
        bool(credits_must_not_exceed_debits),
    )
    cached = _ACCOUNT_IDS.get(key)
    if cached is not None:
        return cached
    found = get_or_create_account(
        currency=currency,
        code=code,
        debits_must_not_exceed_credits=debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=credits_must_not_exceed_debits,
    ).id
    transaction.on_commit(lambda: _ACCOUNT_IDS.__setitem__(key, found))
    return found


def account_ids(
    wanted: Iterable[tuple[str, str, bool, bool]],
) -> dict[tuple[str, str], int]:
    """account_id for each (currency, code, debits_must_not_exceed_credits,
    credits_must_not_exceed_debits), keyed by (currency, code): those this process has not seen
    committed are read in one query; any not there yet is made as account_id makes it."""
    database = str(connection.settings_dict["NAME"])
    found: dict[tuple[str, str], int] = {}
    missing: dict[tuple[str, str], tuple[bool, bool]] = {}
    for currency, code, debits_limit, credits_limit in wanted:
        flags = (bool(debits_limit), bool(credits_limit))
        cached = _ACCOUNT_IDS.get((database, currency, code, *flags))
        if cached is None:
            missing[(currency, code)] = flags
        else:
            found[(currency, code)] = cached
    if not missing:
        return found
    rows = Account.objects.filter(code__in={code for _, code in missing}).values_list(
        "id", "currency", "code", "debits_must_not_exceed_credits", "credits_must_not_exceed_debits"
    )
    for pk, currency, code, debits_limit, credits_limit in rows:
        flags = missing.get((currency, code))
        if flags == (debits_limit, credits_limit):
            found[(currency, code)] = pk
            key = (database, currency, code, *flags)
            transaction.on_commit(lambda key=key, pk=pk: _ACCOUNT_IDS.__setitem__(key, pk))
    for (currency, code), (debits_limit, credits_limit) in missing.items():
        if (currency, code) not in found:  # not made yet, or made with other flags: refused
            found[(currency, code)] = account_id(
                currency=currency,
                code=code,
                debits_must_not_exceed_credits=debits_limit,
                credits_must_not_exceed_debits=credits_limit,
            )
    return found


def clear_account_id_cache() -> None:
    _ACCOUNT_IDS.clear()


# --- transfers -----------------------------------------------------------------------------


def create_transfer(request: TransferRequest) -> Transfer:
    """Apply one transfer, or return the stored one if the same id was applied with the same fields.

    Raises the specific LedgerError subclass on refusal; then nothing was written.
    """
    valid = validate_request(request)
    try:
        return _post([valid], batch_id=None)[0]
    except posting.Refusal as refusal:
        raise ledger_error_from_code(refusal.code, refusal.detail) from None


def create_transfers(requests: list[TransferRequest]) -> list[Transfer]:
    """Apply a linked batch in order, all or none (later transfers may close earlier pendings).

    A refusal raises BatchFailed(index, reason) and nothing was written.
    """
    if not isinstance(requests, list | tuple):
        raise InvalidTransfer("expected a list of TransferRequest")
    if len(requests) > MAX_BATCH_SIZE:
        raise InvalidTransfer(f"a batch holds at most {MAX_BATCH_SIZE} transfers")
    if not requests:
        return []
    valid: list[ValidRequest] = []
    seen: set[uuid.UUID] = set()
    for index, request in enumerate(requests):
        try:
            checked = validate_request(request)
        except LedgerError as error:
            raise BatchFailed(index, error) from None
        if checked.id in seen:
            raise BatchFailed(
                index,
                InvalidTransfer(f"transfer {checked.id} appears twice in the batch", field="id"),
            )
        seen.add(checked.id)
        valid.append(checked)
    try:
        return _post(valid, batch_id=uuid.uuid4() if len(valid) > 1 else None)
    except posting.Refusal as refusal:
        raise BatchFailed(
            refusal.index, ledger_error_from_code(refusal.code, refusal.detail)
        ) from None


def create_transfers_from_query(select_sql: str, params: list | tuple = ()) -> int:
    """Apply, all or none, the transfers a SELECT describes: one row per transfer with the columns
    id, kind, debit_account_id, credit_account_id, amount_minor, currency, pending_id, timeout_s,
    reason, reference, metadata. Set-based posting for jobs that move many balances at once (a
    Python loop over the rows is what this avoids); the same function and checks as
    create_transfers. The query's author answers for the shapes ledger/requests.py would check
    (the table's constraints still refuse a non-positive amount). At most MAX_BATCH_SIZE rows.

    Returns how many transfers the batch held (replays included); a refusal raises BatchFailed."""
    try:
        return _retrying(lambda: posting.post_query(select_sql, params, uuid.uuid4()))
    except posting.Refusal as refusal:
        raise BatchFailed(
            refusal.index, ledger_error_from_code(refusal.code, refusal.detail)
        ) from None


def _sqlstate(exc: Exception) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def _post(requests: list[ValidRequest], batch_id: uuid.UUID | None) -> list[Transfer]:
    return _retrying(lambda: posting.post_transfers(requests, batch_id))


def _retrying(post):
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return post()
        except DatabaseError as exc:
            sqlstate = _sqlstate(exc)
            if sqlstate not in _RETRY_SQLSTATES:
                raise
            if attempt == MAX_ATTEMPTS:
                if sqlstate in _CONTENTION_SQLSTATES:
                    raise LedgerBusy(
                        f"the ledger stayed contended through {MAX_ATTEMPTS} attempts; try again",
                        extra={"sqlstate": sqlstate},
                    ) from exc
                raise
            logger.info("ledger posting retry %d after %s", attempt, sqlstate)
            # Our locks went with the rollback (to the savepoint, if the caller has a
            # transaction open: then the caller's own locks are held through this short sleep).
            time.sleep(random.uniform(0, BACKOFF_BASE_S * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable")


# --- hot accounts --------------------------------------------------------------------------


def ledger_fold_deltas(*, account_id: int | None = None, limit: int = 10_000) -> int:
    """Move up to `limit` BalanceDelta rows into their accounts' counters; return how many.

    One transaction: the rows are deleted (skipping rows another folder holds) and their sums
    added to the counters, so counters + remaining deltas is the same before and after.
    """
    if not 0 < limit <= 100_000:
        raise ValueError("limit must be between 1 and 100000")
    with transaction.atomic():
        sums = _take_deltas(account_id, limit)
        if not sums:
            return 0
        # Lock order (ledger/locking.py): accounts ascending id. Posters never lock these
        # accounts (they have no limit), so only folders wait here.
        account_ids = sorted(sums)
        list(
            Account.objects.select_for_update(no_key=True)
            .filter(id__in=account_ids)
            .order_by("id")
            .values_list("id", flat=True)
        )
        folded = 0
        for folded_id in account_ids:
            count, dp, dpo, cp, cpo = sums[folded_id]
            folded += count
            Account.objects.filter(id=folded_id).update(
                debits_pending=F("debits_pending") + dp,
                debits_posted=F("debits_posted") + dpo,
                credits_pending=F("credits_pending") + cp,
                credits_posted=F("credits_posted") + cpo,
            )
        return folded


def _take_deltas(account_id: int | None, limit: int) -> dict[int, tuple]:
    table = BalanceDelta._meta.db_table
    where = "WHERE account_id = %s" if account_id is not None else ""
    params = [account_id] if account_id is not None else []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT id FROM {table} {where} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
            ), gone AS (
                DELETE FROM {table} d USING picked WHERE d.id = picked.id
                RETURNING d.account_id, d.debits_pending, d.debits_posted,
                          d.credits_pending, d.credits_posted
            )
            SELECT account_id, count(*), sum(debits_pending), sum(debits_posted),
                   sum(credits_pending), sum(credits_posted)
              FROM gone GROUP BY account_id
            """,  # noqa: S608 - table names come from the models, values are parameters
            [*params, limit],
        )
        return {row[0]: tuple(int(value) for value in row[1:]) for row in cursor.fetchall()}


# --- pending timeouts ----------------------------------------------------------------------


def timeout_void_id(pending_id: uuid.UUID) -> uuid.UUID:
    """The id of the void that times a pending transfer out: the same on every run."""
    return uuid.uuid5(chart.TIMEOUT_VOIDS, f"timeout-void:{pending_id}")


def ledger_void_expired_pendings(
    *,
    now: dt.datetime | None = None,
    limit: int = 500,
    lookback: dt.timedelta = dt.timedelta(days=30),
) -> int:
    """Void up to `limit` open pending transfers whose timeout has passed; return how many.

    Idempotent: the void's id is derived from the pending id, so a rerun (or a crash between
    commit and acknowledgement) replays instead of voiding twice; a pending closed in the
    meantime by someone else is skipped. `lookback` bounds the index scan to recent timeouts.
    """
    now = now or timezone.now()
    closes = Transfer.objects.filter(pending_id=OuterRef("pk"))
    expired = list(
        Transfer.objects.filter(
            kind=TransferKind.PENDING, timeout_at__lte=now, timeout_at__gt=now - lookback
        )
        .filter(~Exists(closes))
        .order_by("timeout_at")[:limit]
    )
    voided = 0
    for pending in expired:
        try:
            create_transfer(
                TransferRequest(
                    id=timeout_void_id(pending.id),
                    kind=TransferKind.VOID_PENDING,
                    pending_id=pending.id,
                    debit_account_id=pending.debit_account_id,
                    credit_account_id=pending.credit_account_id,
                    amount_minor=None,
                    currency=pending.currency,
                    reason=TIMEOUT_VOID_REASON,
                    reference=pending.reference,
                )
            )
        except PendingAlreadyClosed:
            continue  # posted or voided by someone else since we looked
        voided += 1
    return voided
