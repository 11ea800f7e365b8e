"""Referential integrity set-wise instead of row by row; drop indexes that others cover.

PostgreSQL: ledger/sql/ledger_references_v1.sql installs the triggers that replace the FOREIGN KEYs
dropped here (accounts and transfers are never deleted; each INSERT checks what it names, once per
statement). The single-column indexes on debit_account, credit_account and pending are covered by
ledger_tr_debit_time, ledger_tr_credit_time and ledger_transfer_close_once, and reference's LIKE
index served no query. Other databases keep only the service-side checks.
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL = Path(__file__).resolve().parent.parent / "sql" / "ledger_references_v1.sql"
TRIGGERS = {
    "ledger_account": ["ledger_account_no_delete", "ledger_account_fixed_id", "ledger_account_truncate"],
    "ledger_transfer": [
        "ledger_transfer_no_delete",
        "ledger_transfer_fixed_id",
        "ledger_transfer_truncate",
        "ledger_transfer_refs_insert",
        "ledger_transfer_refs_update",
    ],
    "ledger_balancedelta": ["ledger_balancedelta_refs_insert", "ledger_balancedelta_refs_update"],
    "ledger_logqueue": ["ledger_logqueue_refs_insert", "ledger_logqueue_refs_update"],
}
FUNCTIONS = [
    "ledger_refuse_delete",
    "ledger_refuse_id_change",
    "ledger_check_truncate",
    "ledger_check_transfer_refs",
    "ledger_check_delta_refs",
    "ledger_check_queue_refs",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SQL.read_text(), params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, names in TRIGGERS.items():
        for name in names:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0002_pg_create_transfers_function'),
    ]

    operations = [
        # The triggers first, so that no moment lacks both guarantees (all one transaction here).
        migrations.RunPython(install, uninstall, elidable=False),
        migrations.AlterField(
            model_name='balancedelta',
            name='account',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='deltas', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='logqueue',
            name='transfer',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to='ledger.transfer'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='credit_account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='debit_account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        # Django drops every plain index on a column whose db_index goes off, the partial unique
        # index of this constraint included: take it off first and put it back after.
        migrations.RemoveConstraint(model_name='transfer', name='ledger_transfer_close_once'),
        migrations.AlterField(
            model_name='transfer',
            name='pending',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transfer'),
        ),
        migrations.AddConstraint(
            model_name='transfer',
            constraint=models.UniqueConstraint(
                condition=models.Q(pending__isnull=False),
                fields=('pending',),
                name='ledger_transfer_close_once',
            ),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='reference',
            field=models.CharField(blank=True, default='', help_text='what caused it, e.g. order:12, payout:7', max_length=128),
        ),
        migrations.AddIndex(
            model_name='transfer',
            index=models.Index(fields=['reference'], name='ledger_tr_reference'),
        ),
    ]
