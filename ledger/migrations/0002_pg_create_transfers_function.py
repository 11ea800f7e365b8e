"""Install the PL/pgSQL posting fast path: one transfer and a batch (PostgreSQL only; other databases use the Python path)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# The batch function first: it defines ledger_refuse, which the single one calls.
SQL_FILES = ["ledger_create_transfers_v1.sql", "ledger_create_transfer_v1.sql"]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SQL_FILES:
        schema_editor.execute((SQL_DIR / name).read_text(), params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS ledger_create_transfer("
        "uuid, text, bigint, bigint, bigint, text, uuid, bigint, text, text, jsonb)",
        params=None,
    )
    schema_editor.execute("DROP FUNCTION IF EXISTS ledger_create_transfers(jsonb, uuid)", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS ledger_refuse(integer, text, jsonb)", params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
