"""One capture function: payments_capture (payments/flows/payments_capture_v2.sql) takes every
capture of a payment, whole or per sub-order (partial), a bank transfer's capture on arrival and the
end of a payment settled seller by seller; it replaces payments_capture_full, whose cases it
covers, and the Python capture in payment_transition. Generic plans, as migration 0011 set them
for the functions it replaces. PostgreSQL only."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "flows" / "payments_capture_v2.sql").read_text
OLD = "payments_capture_full(uuid, text, bigint, bigint[], bigint[], jsonb, uuid)"
NEW = "payments_capture(uuid, text, text, jsonb, bigint[], bigint[], bigint[], jsonb, uuid, boolean)"


def forward(apps, schema_editor):
    schema_editor.execute(SQL(), params=None)
    schema_editor.execute(f"ALTER FUNCTION {NEW} SET plan_cache_mode = force_generic_plan")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0012_order_event_relay")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
