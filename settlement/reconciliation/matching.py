"""Match booked statement lines to what the platform did, set-based (a handful of statements
whatever the number of lines), in one transaction. Each match records its rule:

    end_to_end_id              a debit whose EndToEndId is a payout's id (32 hex), same amount
    end_to_end_id+split        several debits with a payout's id that add up to it (bank split)
    end_to_end_id+return       a credit with a returned payout's id, same amount
    amount+value_date+iban     a debit without a known id: the one unmatched payout to that IBAN
                               with that amount, sent within the window before the value date
    netted:iban+value_date     a debit equal to the sum of the unmatched payouts to that IBAN
                               sent on the value date (the bank netted them)
    rf_reference               a credit quoting a bank-transfer payment's RF reference; the
                               detail says exact, under (partial) or over (the excess is queued
                               for a refund), counting what earlier lines brought
    refund:end_to_end_id       a debit whose EndToEndId is a refund's id or provider reference

What does not match opens a work item (at most one open per kind and object): a payout id with
another amount (amount_mismatch), a payout already matched (duplicate), a payout the platform
shows failed or a return of one it does not show returned (status_mismatch), a reference that
matched nothing (unmatched_line), no reference at all (unknown_line), and payouts sent but on no
statement past the grace days (overdue_payout); open disputes and the payouts' confirmation
contradictions are queued too. Items whose cause was matched since are resolved here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

# 32 hex digits, said as "32 characters, all hex": PostgreSQL's regex engine runs the bounded
# repetition {32} about five times slower, and the join evaluates this once or twice a line.
_PAYOUT_OF_LINE = (
    "(CASE WHEN length(l.end_to_end_id) = 32 AND l.end_to_end_id ~ '^[0-9a-fA-F]+$'"
    " THEN l.end_to_end_id::uuid END)"
)

# Lines with a payout's id: a verdict each (match, duplicate, mismatch, status), decided as the
# table is made (one write of it, and its statistics, taken next, know the verdicts).
_BY_PAYOUT_ID = f"""
CREATE TEMP TABLE recon_e2e ON COMMIT DROP AS
SELECT line_id, currency, payout_id, payout_status, amount, payout_amount, credit, n,
       CASE WHEN seen THEN 'duplicate'
            WHEN credit AND payout_status <> 'returned' THEN 'status'
            WHEN NOT credit AND payout_status = 'failed' THEN 'status'
            WHEN n = 1 AND amount = payout_amount THEN 'match'
            WHEN n > 1 AND total = payout_amount THEN 'match'
            WHEN amount = payout_amount AND rn = 1 THEN 'match'
            WHEN amount = payout_amount THEN 'duplicate'
            ELSE 'mismatch' END AS verdict,
       CASE WHEN credit THEN 'end_to_end_id+return'
            WHEN n > 1 AND total = payout_amount THEN 'end_to_end_id+split'
            ELSE 'end_to_end_id' END AS rule
  FROM (
SELECT l.id AS line_id, l.currency, p.id AS payout_id, p.status AS payout_status,
       abs(l.amount_minor) AS amount, p.amount_minor AS payout_amount, l.amount_minor > 0 AS credit,
       count(*) OVER w AS n, sum(abs(l.amount_minor)) OVER w AS total,
       row_number() OVER (PARTITION BY p.id, l.amount_minor > 0 ORDER BY l.id) AS rn,
       EXISTS (SELECT 1 FROM settlement_linematch m
                WHERE m.payout_id = p.id
                  AND m.kind = CASE WHEN l.amount_minor > 0 THEN 'payout_return' ELSE 'payout' END
              ) AS seen
  FROM settlement_statementline l
  JOIN settlement_payout p ON p.id = {_PAYOUT_OF_LINE} AND p.currency = l.currency
 WHERE l.state = 'unmatched' AND l.status = 'BOOK'
WINDOW w AS (PARTITION BY p.id, l.amount_minor > 0)
       ) AS e2e
"""  # noqa: S608 (a constant expression, no input)
# No ON CONFLICT: the lines were unmatched when this run (alone, under MATCHING_LOCK) began, and
# each line names one payout. Speculative insertion made the 99,000 inserts of a busy day 30% slower.
_E2E_MATCHES = """
INSERT INTO settlement_linematch
       (line_id, kind, payout_id, amount_minor, rule, detail, matched_by, created_at)
SELECT line_id, CASE WHEN credit THEN 'payout_return' ELSE 'payout' END, payout_id, amount, rule,
       jsonb_build_object('payout_amount', payout_amount, 'lines', n), 'auto', now()
  FROM recon_e2e WHERE verdict = 'match'
"""
_E2E_ITEMS = """
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, line_id, payout_id, summary,
        opened_at, resolution_note)
SELECT CASE verdict WHEN 'duplicate' THEN 'duplicate' WHEN 'status' THEN 'status_mismatch'
                    ELSE 'amount_mismatch' END,
       'open', currency, amount, CASE WHEN verdict = 'mismatch' THEN amount - payout_amount ELSE 0 END,
       line_id, payout_id,
       CASE verdict
         WHEN 'duplicate' THEN 'payout ' || payout_id || ' is already on a statement'
         WHEN 'status' THEN 'the bank ' || CASE WHEN credit THEN 'returned' ELSE 'paid' END
                            || ' payout ' || payout_id || ', which the platform shows '
                            || payout_status
         ELSE 'line ' || amount || ', payout ' || payout_amount || ' (' || currency || ' minor)'
       END, now(), ''
  FROM recon_e2e WHERE verdict IN ('duplicate', 'status', 'mismatch')
ON CONFLICT DO NOTHING
"""

# A debit without a known payout id: the payouts to that IBAN sent in the window before the value
# date, not matched yet; one with the same amount (on both sides), or all of them adding up.
_BY_IBAN = """
CREATE TEMP TABLE recon_iban ON COMMIT DROP AS
SELECT l.id AS line_id, -l.amount_minor AS amount, p.id AS payout_id, p.amount_minor AS payout_amount,
       (coalesce(p.submitted_at, p.created_at) AT TIME ZONE 'UTC')::date AS sent_on, l.value_date
  FROM settlement_statementline l
  JOIN settlement_payout p
    ON p.iban = l.counterparty_iban AND p.currency = l.currency
   AND p.status IN ('submitted', 'paid', 'returned')
   AND (coalesce(p.submitted_at, p.created_at) AT TIME ZONE 'UTC')::date
       BETWEEN l.value_date - %(window)s::int AND l.value_date
 WHERE l.state = 'unmatched' AND l.status = 'BOOK' AND l.amount_minor < 0
   AND l.counterparty_iban <> '' AND l.value_date IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM settlement_workitem w WHERE w.line_id = l.id AND w.status = 'open')
   AND NOT EXISTS (SELECT 1 FROM settlement_linematch m
                    WHERE m.payout_id = p.id AND m.kind = 'payout')
"""
_IBAN_EXACT = """
WITH same AS (
  SELECT line_id, payout_id, amount,
         count(*) OVER (PARTITION BY line_id) AS per_line,
         count(*) OVER (PARTITION BY payout_id) AS per_payout
    FROM recon_iban WHERE amount = payout_amount
), chosen AS (
  SELECT line_id, payout_id, amount FROM same WHERE per_line = 1 AND per_payout = 1
), ins AS (
  INSERT INTO settlement_linematch
         (line_id, kind, payout_id, amount_minor, rule, detail, matched_by, created_at)
  SELECT line_id, 'payout', payout_id, amount, 'amount+value_date+iban', '{}'::jsonb, 'auto', now()
    FROM chosen
  ON CONFLICT DO NOTHING RETURNING line_id
)
UPDATE settlement_statementline SET state = 'matched' WHERE id IN (SELECT line_id FROM ins)
"""
_IBAN_NETTED = """
WITH open_candidates AS (
  SELECT r.* FROM recon_iban r
    JOIN settlement_statementline l ON l.id = r.line_id AND l.state = 'unmatched'
   WHERE r.sent_on = r.value_date
     AND NOT EXISTS (SELECT 1 FROM settlement_linematch m
                      WHERE m.payout_id = r.payout_id AND m.kind = 'payout')
), sums AS (
  SELECT line_id, min(amount) AS amount, sum(payout_amount) AS total, count(*) AS n
    FROM open_candidates GROUP BY line_id
), netted AS (
  SELECT c.line_id, c.payout_id, c.payout_amount, s.n,
         count(*) OVER (PARTITION BY c.payout_id) AS claims
    FROM open_candidates c JOIN sums s ON s.line_id = c.line_id
   WHERE s.n > 1 AND s.total = s.amount
), ins AS (
  INSERT INTO settlement_linematch
         (line_id, kind, payout_id, amount_minor, rule, detail, matched_by, created_at)
  SELECT line_id, 'payout', payout_id, payout_amount, 'netted:iban+value_date',
         jsonb_build_object('payouts', n), 'auto', now()
    FROM netted WHERE claims = 1
  ON CONFLICT DO NOTHING RETURNING line_id
)
UPDATE settlement_statementline SET state = 'matched' WHERE id IN (SELECT line_id FROM ins)
"""

# Credits quoting an RF reference: what the payment was due, what it got so far, this line.
_INCOMING = """
CREATE TEMP TABLE recon_rf ON COMMIT DROP AS
SELECT l.id AS line_id, l.currency, l.amount_minor AS amount, pay.id AS payment_id,
       pay.amount_minor AS due, pay.status AS payment_status,
       coalesce((SELECT sum(m.amount_minor) FROM settlement_linematch m
                  WHERE m.payment_id = pay.id AND m.kind = 'incoming'), 0)
       + sum(l.amount_minor) OVER (PARTITION BY pay.id ORDER BY l.id) AS received
  FROM settlement_statementline l
  JOIN payments_payment pay ON pay.bank_reference = l.creditor_reference
   AND pay.currency = l.currency
 WHERE l.state = 'unmatched' AND l.status = 'BOOK' AND l.amount_minor > 0
   AND l.creditor_reference <> ''
"""
_INCOMING_MATCHES = """
WITH ins AS (
  INSERT INTO settlement_linematch
         (line_id, kind, payment_id, amount_minor, rule, detail, matched_by, created_at)
  SELECT line_id, 'incoming', payment_id, amount, 'rf_reference',
         jsonb_build_object('due', due, 'received', received,
                            'outcome', CASE WHEN received < due THEN 'under (partial)'
                                            WHEN received = due THEN 'exact'
                                            ELSE 'over (excess to refund)' END),
         'auto', now()
    FROM recon_rf
  ON CONFLICT DO NOTHING RETURNING line_id
)
UPDATE settlement_statementline SET state = 'matched' WHERE id IN (SELECT line_id FROM ins)
"""
_OVERPAID = """
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, line_id, payment_id, summary,
        opened_at, resolution_note)
SELECT 'overpayment', 'open', currency, amount, least(amount, received - due), line_id,
       payment_id, 'payment ' || payment_id || ' received ' || received || ', due ' || due
       || ': the excess is owed back to the buyer', now(), ''
  FROM recon_rf WHERE received > due
ON CONFLICT DO NOTHING
"""

_REFUNDS = f"""
WITH found AS (
  SELECT DISTINCT ON (l.id) l.id AS line_id, r.id AS refund_id, -l.amount_minor AS amount,
         r.amount_minor AS refund_amount
    FROM settlement_statementline l
    JOIN payments_refund r
      ON r.currency = l.currency
     AND (r.id = {_PAYOUT_OF_LINE} OR (r.provider_reference <> ''
                                        AND r.provider_reference = l.end_to_end_id))
   WHERE l.state = 'unmatched' AND l.status = 'BOOK' AND l.amount_minor < 0
     AND l.end_to_end_id <> ''
), ins AS (
  INSERT INTO settlement_linematch
         (line_id, kind, refund_id, amount_minor, rule, detail, matched_by, created_at)
  SELECT line_id, 'refund', refund_id, amount, 'refund:end_to_end_id', '{{}}'::jsonb, 'auto', now()
    FROM found WHERE amount = refund_amount
  ON CONFLICT DO NOTHING RETURNING line_id
)
UPDATE settlement_statementline SET state = 'matched' WHERE id IN (SELECT line_id FROM ins)
"""  # noqa: S608 (a constant expression, no input)

_LEFTOVERS = """
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, line_id, summary, opened_at,
        resolution_note)
SELECT CASE WHEN l.end_to_end_id <> '' OR l.creditor_reference <> '' THEN 'unmatched_line'
            ELSE 'unknown_line' END,
       'open', l.currency, abs(l.amount_minor), 0, l.id,
       left(CASE WHEN l.amount_minor > 0 THEN 'credit ' ELSE 'debit ' END || abs(l.amount_minor)
            || ' ' || l.currency || ' ' || coalesce(l.value_date::text, '') || ' '
            || coalesce(nullif(l.end_to_end_id, ''), nullif(l.creditor_reference, ''),
                        nullif(l.remittance, ''), '(no reference)'), 255),
       now(), ''
  FROM settlement_statementline l
 WHERE l.state = 'unmatched' AND l.status = 'BOOK'
   AND NOT EXISTS (SELECT 1 FROM settlement_workitem w WHERE w.line_id = l.id AND w.status = 'open')
ON CONFLICT DO NOTHING
"""
_OVERDUE = """
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, payout_id, summary, opened_at,
        resolution_note)
SELECT 'overdue_payout', 'open', p.currency, p.amount_minor, 0, p.id,
       'payout ' || p.id || ' sent ' || (p.submitted_at AT TIME ZONE 'UTC')::date
       || ', on no statement up to ' || s.last_day, now(), ''
  FROM settlement_payout p
  JOIN (SELECT currency, max(statement_date) AS last_day FROM settlement_bankstatement
         GROUP BY currency) s ON s.currency = p.currency
 WHERE p.status IN ('submitted', 'paid') AND p.submitted_at IS NOT NULL
   AND (p.submitted_at AT TIME ZONE 'UTC')::date + %(grace)s::int < s.last_day
   AND NOT EXISTS (SELECT 1 FROM settlement_linematch m
                    WHERE m.payout_id = p.id AND m.kind = 'payout')
ON CONFLICT DO NOTHING
"""
_CASES = """
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, dispute_id, summary, opened_at,
        resolution_note)
SELECT 'dispute', 'open', so.currency, so.amount_minor, 0, d.id,
       left('dispute on sub-order ' || so.id || ': ' || d.reason, 255), now(), ''
  FROM payments_dispute d
  JOIN payments_suborder so ON so.id = d.sub_order_id
 WHERE d.status = 'open'
ON CONFLICT DO NOTHING;
INSERT INTO settlement_workitem
       (kind, status, currency, amount_minor, difference_minor, payout_id, payout_event_id,
        summary, opened_at, resolution_note)
SELECT 'confirmation', 'open', p.currency, p.amount_minor, 0, p.id, e.id,
       left('payout ' || p.id || ': ' || e.data::text, 255), now(), ''
  FROM settlement_payoutevent e JOIN settlement_payout p ON p.id = e.payout_id
 WHERE e.kind = 'contradiction'
ON CONFLICT DO NOTHING
"""
# Items whose cause went away: the payout or line was matched since, the dispute resolved.
_SETTLED = """
UPDATE settlement_workitem w SET status = 'resolved', resolved_at = now(),
       resolution_note = 'the line was matched since'
 WHERE w.status = 'open' AND w.kind IN ('amount_mismatch', 'unmatched_line', 'unknown_line')
   AND EXISTS (SELECT 1 FROM settlement_statementline l WHERE l.id = w.line_id
                AND l.state <> 'unmatched');
UPDATE settlement_workitem w SET status = 'resolved', resolved_at = now(),
       resolution_note = 'matched by a later statement'
 WHERE w.status = 'open' AND w.kind = 'overdue_payout'
   AND EXISTS (SELECT 1 FROM settlement_linematch m WHERE m.payout_id = w.payout_id
                AND m.kind = 'payout');
UPDATE settlement_workitem w SET status = 'resolved', resolved_at = now(),
       resolution_note = 'the dispute was resolved'
 WHERE w.status = 'open' AND w.kind = 'dispute'
   AND EXISTS (SELECT 1 FROM payments_dispute d WHERE d.id = w.dispute_id AND d.status <> 'open')
"""


_E2E_LINES = """
UPDATE settlement_statementline SET state = 'matched'
 WHERE id IN (SELECT line_id FROM recon_e2e WHERE verdict = 'match')
"""
_OPEN_LINES = (
    "SELECT count(*) FROM settlement_statementline WHERE state = 'unmatched' AND status = 'BOOK'"
)
# The working tables get statistics once filled: the planner would take them for empty.
_TEMP_TABLES = {"by_payout_id": "recon_e2e", "by_iban": "recon_iban", "incoming": "recon_rf"}


MATCHING_LOCK = "settlement.reconciliation.matching"  # the advisory lock's name


@dataclass
class MatchResult:
    matched: int  # lines matched by this run
    unmatched: int  # booked lines still unmatched
    work_items_opened: int


def run_matching(*, timings: dict[str, float] | None = None) -> MatchResult:
    """Match every unmatched booked line; open and close work items. Safe to repeat.
    `timings`, if given, receives each step's seconds (for the benchmark)."""
    window = settings.RECONCILIATION_MATCH_WINDOW_DAYS
    grace = settings.RECONCILIATION_PAYOUT_GRACE_DAYS
    steps = [
        ("by_payout_id", _BY_PAYOUT_ID, None),
        ("e2e_matches", _E2E_MATCHES, None),
        ("e2e_lines", _E2E_LINES, None),
        ("e2e_items", _E2E_ITEMS, None),
        ("by_iban", _BY_IBAN, {"window": window}),
        ("iban_exact", _IBAN_EXACT, None),
        ("iban_netted", _IBAN_NETTED, None),
        ("incoming", _INCOMING, None),
        ("incoming_matches", _INCOMING_MATCHES, None),
        ("overpaid", _OVERPAID, None),
        ("refunds", _REFUNDS, None),
        ("leftovers", _LEFTOVERS, None),
        ("overdue", _OVERDUE, {"grace": grace}),
        *((f"cases_{i}", sql, None) for i, sql in enumerate(_CASES.split(";\n"))),
        *((f"settled_{i}", sql, None) for i, sql in enumerate(_SETTLED.split(";\n"))),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        # One run at a time (the daily fetch, staff's "match", an import): a second waits, then
        # reads what the first matched.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [MATCHING_LOCK])
        # No JIT for these statements: once the matches of earlier statements are many, the
        # planner's cost estimates pass jit_above_cost and compiling took longer (2.5 s) than a
        # run's whole work; the statements are set-based already.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT count(*) FROM settlement_workitem")
        items_before = cursor.fetchone()[0]
        cursor.execute(_OPEN_LINES)
        open_before = cursor.fetchone()[0]
        # ON COMMIT DROP: gone after the transaction; inside an outer one (a test, a caller's
        # atomic block) an earlier run's tables are still there.
        cursor.execute("DROP TABLE IF EXISTS recon_e2e, recon_iban, recon_rf")
        for name, sql, params in steps:
            began = time.perf_counter()
            cursor.execute(sql, params)
            if name in ("by_payout_id", "by_iban", "incoming"):
                cursor.execute(f"ANALYZE {_TEMP_TABLES[name]}")
            if timings is not None:
                timings[name] = round(time.perf_counter() - began, 4)
        cursor.execute(_OPEN_LINES)
        open_after = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM settlement_workitem")
        items_after = cursor.fetchone()[0]
    return MatchResult(
        matched=open_before - open_after,
        unmatched=open_after,
        work_items_opened=items_after - items_before,
    )
