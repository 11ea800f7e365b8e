"""One payment start: payments_start (payments/flows/payments_start_v2.sql) starts a payment of any
method (card: with its vaulted card; wallet; bank transfer: with its reference), in place of
payments_card_start and the Python start of wallets and bank transfers. Generic plans, as migration
0011 set them for the function replaced. PostgreSQL only."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "flows" / "payments_start_v2.sql").read_text
NEW = (
    "payments_start(uuid, boolean, bigint, text[], uuid, text, text, text, jsonb, text, uuid, text,"
    " text, text, integer, integer, text, bytea, bytea, timestamptz)"
)
OLD = (
    "payments_card_start(uuid, boolean, bigint, text[], uuid, text, text, jsonb, uuid, text, text,"
    " text, integer, integer, text, bytea, bytea, timestamptz)"
)


def forward(apps, schema_editor):
    schema_editor.execute(SQL(), params=None)
    schema_editor.execute(f"ALTER FUNCTION {NEW} SET plan_cache_mode = force_generic_plan")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0014_one_authorize_function")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
