"""The payment fast path's functions plan their statements once per connection (generic plans).

PL/pgSQL re-plans a statement whose parameters are arrays (the ledger's `= ANY(...)` lookups in the
nested ledger_create_transfers call among them) on every call when a custom plan looks cheaper:
about 15 statements planned per payment. Measured on the one-call card payment (serial, 190
payments per round, three rounds each way, same session): 4.58 -> 4.09 ms of PostgreSQL CPU per
payment. The setting holds for the nested ledger call too, and only inside these functions: the
ledger's own large batches (bench_ledger) keep custom plans, which suit 1,000-element arrays.
PostgreSQL only. CREATE OR REPLACE resets a function's settings: a migration that reinstalls one
of these functions must run this again."""

from django.db import migrations

FUNCTIONS = [
    "payments_card_start",
    "payments_card_authorize",
    "payments_card_sale",
    "payments_capture_full",
]


def _alter(schema_editor, clause: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in FUNCTIONS:
            cursor.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname = %s", [name]
            )
            for (signature,) in cursor.fetchall():
                cursor.execute(f"ALTER FUNCTION {signature} {clause}")


def generic(apps, schema_editor):
    _alter(schema_editor, "SET plan_cache_mode = force_generic_plan")


def default(apps, schema_editor):
    _alter(schema_editor, "RESET plan_cache_mode")


class Migration(migrations.Migration):
    dependencies = [("payments", "0010_sub_order_update_by_order")]

    operations = [migrations.RunPython(generic, default, elidable=False)]
