"""Install the payment fast path's PL/pgSQL functions (PostgreSQL only; other databases use the
Python path). Files are CREATE OR REPLACE: a later change ships as a new file and migration."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "flows"
SQL_FILES = ["payments_authorize_v1.sql", "payments_capture_v1.sql"]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SQL_FILES:
        schema_editor.execute((SQL_DIR / name).read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("payments", "0007_webhooks"), ("ledger", "0003_set_based_references")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop, elidable=False)]
