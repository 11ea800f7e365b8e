"""Install payments_card_sale (payments/flows/payments_sale_v1.sql): an automatic-capture card
payment authorised and captured by the processor in one call, applied in one statement
(PostgreSQL only; other databases use the Python path)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "flows"
SQL_FILES = ["payments_sale_v1.sql"]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SQL_FILES:
        schema_editor.execute((SQL_DIR / name).read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("payments", "0008_payment_fast_path")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop, elidable=False)]
