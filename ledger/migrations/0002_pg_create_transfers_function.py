"""Install the PL/pgSQL posting fast path (PostgreSQL only; other databases use the Python path)."""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "ledger_create_transfers_v1.sql"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SQL_FILE.read_text(), params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP FUNCTION IF EXISTS ledger_create_transfers(jsonb, uuid)", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS ledger_refuse(integer, text, jsonb)", params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
