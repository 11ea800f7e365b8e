"""ledger_create_transfers version 2: a set-based pass 2 for the common batch (PostgreSQL only).

Same signature, checks and results as version 1 (0002); ledger/sql/ledger_create_transfers_v2.sql
says when the set-based pass applies. Reversing re-installs version 1.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def install(name: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute((SQL_DIR / name).read_text(), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_set_based_references")]

    operations = [
        migrations.RunPython(
            install("ledger_create_transfers_v2.sql"),
            install("ledger_create_transfers_v1.sql"),
            elidable=False,
        )
    ]
