"""settlement_payout_due (settlement/sql/settlement_payout_due_v1.sql): the payout schedule rule."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "sql" / "settlement_payout_due_v1.sql").read_text


def forward(apps, schema_editor):
    schema_editor.execute(SQL(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0002_name_uuid_and_held_backfill"),
        ("accounts", "0004_payout_days"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
