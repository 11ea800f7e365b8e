"""Maturation: held releases whose hold has elapsed move from `seller:<id>:pending` to
`available` (and the reserve's part to `reserve`); reserves whose time has come move to
`available`. Set-based: each run claims due rows with one UPDATE ... FOR UPDATE SKIP LOCKED and
posts all their transfers with one ledger call built in the database (no Python loop over rows).

Exactly once: a row is claimed (its timestamp set) in the transaction that posts its transfers, so
two overlapping runs take disjoint rows; the transfer ids are name-based (uuid3 of the chart's
MATURATION namespace and the release's id), so even a replay of the same row posts nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.db import connection, transaction
from django.utils import timezone

from ledger import chart
from ledger.services import create_transfers_from_query

BATCH_ROWS = 2_000  # rows per statement; a transfer batch holds at most 10,000 transfers


class MaturationMismatch(RuntimeError):
    """The ledger posted another number of transfers than the claimed rows need (an account the
    query could not find): the run is rolled back."""


def maturation_transfer_id(release_transfer_id: uuid.UUID, step: str) -> uuid.UUID:
    """The id of a maturation step ("available", "reserve", "reserve_released") of a release; the
    same as settlement_name_uuid() computes in SQL."""
    return uuid.uuid3(chart.MATURATION_TRANSFERS, f"release:{release_transfer_id}:{step}")


_CLAIM_MATURED = """
WITH claimed AS (
    UPDATE settlement_heldrelease h SET matured_at = %s
     WHERE h.release_transfer_id IN (
           SELECT release_transfer_id FROM settlement_heldrelease
            WHERE matured_at IS NULL AND due_at <= %s
            ORDER BY due_at LIMIT %s
              FOR UPDATE SKIP LOCKED)
    RETURNING h.release_transfer_id, h.seller_id, h.currency, h.reserve_minor > 0 AS reserved,
              (h.amount_minor > h.reserve_minor)::int + (h.reserve_minor > 0)::int AS transfers)
SELECT coalesce(array_agg(release_transfer_id), '{}'), coalesce(sum(transfers), 0),
       coalesce(jsonb_agg(DISTINCT jsonb_build_array(seller_id, currency, reserved)), '[]')
  FROM claimed
"""

# pending -> available (the net less the reserve) and pending -> reserve, per claimed row.
_MATURED_TRANSFERS = """
SELECT settlement_name_uuid(%s::uuid, 'release:' || h.release_transfer_id || ':' || s.step) AS id,
       'posted' AS kind,
       r.credit_account_id AS debit_account_id,
       CASE s.step WHEN 'available' THEN av.id ELSE rs.id END AS credit_account_id,
       CASE s.step WHEN 'available' THEN h.amount_minor - h.reserve_minor
            ELSE h.reserve_minor END AS amount_minor,
       h.currency,
       NULL::uuid AS pending_id,
       NULL::bigint AS timeout_s,
       CASE s.step WHEN 'available' THEN 'balance_matured' ELSE 'reserve_held' END AS reason,
       'release:' || h.release_transfer_id AS reference,
       r.metadata || jsonb_build_object('release', h.release_transfer_id) AS metadata
  FROM settlement_heldrelease h
  JOIN ledger_transfer r ON r.id = h.release_transfer_id
  JOIN ledger_account av
    ON av.currency = h.currency AND av.code = 'seller:' || h.seller_id || ':available'
  LEFT JOIN ledger_account rs
    ON rs.currency = h.currency AND rs.code = 'seller:' || h.seller_id || ':reserve'
 CROSS JOIN (VALUES ('available'), ('reserve')) AS s (step)
 WHERE h.release_transfer_id = ANY(%s::uuid[])
   AND CASE s.step WHEN 'available' THEN h.amount_minor > h.reserve_minor
       ELSE h.reserve_minor > 0 END
 ORDER BY h.due_at, h.release_transfer_id, s.step
"""

_CLAIM_RESERVES = """
WITH claimed AS (
    UPDATE settlement_heldrelease h SET reserve_released_at = %s
     WHERE h.release_transfer_id IN (
           SELECT release_transfer_id FROM settlement_heldrelease
            WHERE matured_at IS NOT NULL AND reserve_released_at IS NULL AND reserve_minor > 0
              AND reserve_due_at <= %s
            ORDER BY reserve_due_at LIMIT %s
              FOR UPDATE SKIP LOCKED)
    RETURNING h.release_transfer_id, h.seller_id, h.currency)
SELECT coalesce(array_agg(release_transfer_id), '{}'), count(*),
       coalesce(jsonb_agg(DISTINCT jsonb_build_array(seller_id, currency, true)), '[]')
  FROM claimed
"""

_RESERVE_TRANSFERS = """
SELECT settlement_name_uuid(%s::uuid, 'release:' || h.release_transfer_id || ':reserve_released')
           AS id,
       'posted' AS kind,
       rs.id AS debit_account_id,
       av.id AS credit_account_id,
       h.reserve_minor AS amount_minor,
       h.currency,
       NULL::uuid AS pending_id,
       NULL::bigint AS timeout_s,
       'reserve_released' AS reason,
       'release:' || h.release_transfer_id AS reference,
       r.metadata || jsonb_build_object('release', h.release_transfer_id) AS metadata
  FROM settlement_heldrelease h
  JOIN ledger_transfer r ON r.id = h.release_transfer_id
  JOIN ledger_account av
    ON av.currency = h.currency AND av.code = 'seller:' || h.seller_id || ':available'
  JOIN ledger_account rs
    ON rs.currency = h.currency AND rs.code = 'seller:' || h.seller_id || ':reserve'
 WHERE h.release_transfer_id = ANY(%s::uuid[])
 ORDER BY h.reserve_due_at, h.release_transfer_id
"""


def _run(claim_sql: str, transfers_sql: str, now: dt.datetime, limit: int) -> int:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(claim_sql, [now, now, limit])
            ids, expected, sellers = cursor.fetchone()
        if not ids:
            return 0
        # The accounts money moves into exist before the set-wise posting looks them up by code
        # (one cached lookup per seller and currency, not per row); a reserve account only for a
        # seller whose plan keeps one.
        rows = sellers if isinstance(sellers, list) else json.loads(sellers)
        for seller_id, currency, reserved in rows:
            chart.account(currency=currency, code=chart.seller_available(seller_id))
            if reserved:
                chart.account(currency=currency, code=chart.seller_reserve(seller_id))
        posted = create_transfers_from_query(
            transfers_sql, [str(chart.MATURATION_TRANSFERS), [str(i) for i in ids]]
        )
        if posted != expected:
            raise MaturationMismatch(f"claimed rows need {expected} transfers; {posted} posted")
        return len(ids)


def mature_due(*, now: dt.datetime | None = None, limit: int = BATCH_ROWS) -> dict[str, int]:
    """Move every held release and reserve that is due; return how many of each. Runs chunk by
    chunk (one transaction each) until nothing due is left."""
    now = now or timezone.now()
    counts = {"matured": 0, "reserves_released": 0}
    for key, claim, transfers in (
        ("matured", _CLAIM_MATURED, _MATURED_TRANSFERS),
        ("reserves_released", _CLAIM_RESERVES, _RESERVE_TRANSFERS),
    ):
        while moved := _run(claim, transfers, now, limit):
            counts[key] += moved
    return counts
