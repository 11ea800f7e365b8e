"""platform:escrow gets its never-negative limit (the chart now creates it with one).

Limits are fixed at creation, and an escrow account made before this migration has none: the
posting code would then refuse it as a conflicting account. Each existing escrow account is
locked, its balance deltas are folded into its counters (a limited account keeps no deltas), and
the flag is set. An escrow already below zero stops the migration with the figures: that is an
inconsistency to look at, not to carry under a limit.
"""

from django.db import migrations

from ledger.chart import ESCROW

FOLD_AND_LIMIT = """
WITH escrow AS (
    SELECT id FROM ledger_account
     WHERE code = %(code)s AND NOT debits_must_not_exceed_credits
     ORDER BY id FOR UPDATE
), gone AS (
    DELETE FROM ledger_balancedelta d USING escrow e WHERE d.account_id = e.id
    RETURNING d.account_id, d.debits_pending, d.debits_posted, d.credits_pending, d.credits_posted
), sums AS (
    SELECT account_id, sum(debits_pending) AS dp, sum(debits_posted) AS dpo,
           sum(credits_pending) AS cp, sum(credits_posted) AS cpo
      FROM gone GROUP BY account_id
)
UPDATE ledger_account a
   SET debits_pending = a.debits_pending + coalesce(s.dp, 0),
       debits_posted = a.debits_posted + coalesce(s.dpo, 0),
       credits_pending = a.credits_pending + coalesce(s.cp, 0),
       credits_posted = a.credits_posted + coalesce(s.cpo, 0),
       debits_must_not_exceed_credits = true
  FROM escrow e LEFT JOIN sums s ON s.account_id = e.id
 WHERE a.id = e.id
"""

OVERDRAWN = """
SELECT a.currency,
       a.credits_posted + coalesce(sum(d.credits_posted), 0)
         - a.debits_posted - coalesce(sum(d.debits_posted), 0)
         - a.debits_pending - coalesce(sum(d.debits_pending), 0)
  FROM ledger_account a LEFT JOIN ledger_balancedelta d ON d.account_id = a.id
 WHERE a.code = %(code)s AND NOT a.debits_must_not_exceed_credits
 GROUP BY a.id
HAVING a.credits_posted + coalesce(sum(d.credits_posted), 0)
         - a.debits_posted - coalesce(sum(d.debits_posted), 0)
         - a.debits_pending - coalesce(sum(d.debits_pending), 0) < 0
"""


def limit_escrow(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(OVERDRAWN, {"code": ESCROW})
        overdrawn = cursor.fetchall()
        if overdrawn:
            shown = ", ".join(f"{currency} {available}" for currency, available in overdrawn)
            raise RuntimeError(
                f"{ESCROW} is below zero ({shown} minor units available): the never-negative "
                "limit cannot be set; run ledger_verify and look at the escrow postings first"
            )
        cursor.execute(FOLD_AND_LIMIT, {"code": ESCROW})


def unlimit_escrow(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET debits_must_not_exceed_credits = false WHERE code = %s",
            [ESCROW],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_log_records"),
    ]

    operations = [migrations.RunPython(limit_escrow, unlimit_escrow)]
