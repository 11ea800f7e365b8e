"""Reinstall the authorisation and sale functions: their sub-order UPDATE goes by the order's index
(the join with the JSON array of sub-orders was planned as a sequential scan of every sub-order,
a cost that grew with the table). PostgreSQL only; CREATE OR REPLACE."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "flows"
SQL_FILES = ["payments_authorize_v1.sql", "payments_sale_v1.sql"]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SQL_FILES:
        schema_editor.execute((SQL_DIR / name).read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("payments", "0009_payment_sale_fast_path")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop, elidable=False)]
