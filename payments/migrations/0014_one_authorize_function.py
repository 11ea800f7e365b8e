"""One authorisation: payments_authorize (payments/flows/payments_authorize_v2.sql) authorises a
payment of any method, and with p_capture applies a sale (authorised and captured at once), with
payments_order_mark_paid (the order's side, also order_services.order_mark_paid's one
implementation). They replace payments_card_authorize and payments_card_sale, whose cases they
cover, and the Python authorisation in payment_transition. Generic plans, as migration 0011 set
them for the functions replaced. PostgreSQL only."""

from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "flows" / "payments_authorize_v2.sql").read_text
GENERIC = ["payments_authorize", "payments_order_mark_paid"]
DROPPED = [
    "payments_card_authorize(uuid, text, text, bigint, text, text, text, jsonb, text, jsonb, jsonb,"
    " uuid, timestamptz, timestamptz, text)",
    "payments_card_sale(uuid, text, text, bigint, text, text, text, jsonb, text, jsonb, jsonb, uuid,"
    " timestamptz, timestamptz, text, bigint)",
]


def forward(apps, schema_editor):
    schema_editor.execute(SQL(), params=None)
    with schema_editor.connection.cursor() as cursor:
        for name in GENERIC:
            cursor.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname = %s", [name]
            )
            for (signature,) in cursor.fetchall():
                cursor.execute(f"ALTER FUNCTION {signature} SET plan_cache_mode = force_generic_plan")
    for signature in DROPPED:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {signature}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0013_one_capture_function")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
