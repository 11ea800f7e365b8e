"""settlement_name_uuid (settlement/sql/settlement_name_uuid_v1.sql) for set-based transfer ids,
and a HeldRelease for every release made before holds existed (the default 2-day hold from the
release's time, no reserve), so that money already released matures like the rest."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "settlement_name_uuid_v1.sql").read_text

BACKFILL = """
INSERT INTO settlement_heldrelease
       (release_transfer_id, seller_id, currency, amount_minor, reserve_minor, due_at,
        reserve_due_at, matured_at, reserve_released_at, created_at)
SELECT t.id, split_part(a.code, ':', 2)::bigint, t.currency, t.amount_minor, 0,
       t.created_at + interval '2 days', NULL, NULL, NULL, now()
  FROM ledger_transfer t
  JOIN ledger_account a ON a.id = t.credit_account_id
 WHERE t.reason = 'escrow_released' AND t.kind = 'posted' AND a.code LIKE 'seller:%:pending'
ON CONFLICT DO NOTHING
"""


def forward(apps, schema_editor):
    schema_editor.execute(SQL(), params=None)
    schema_editor.execute(BACKFILL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0001_batches_payouts_holds"),
        ("ledger", "0003_set_based_references"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
