"""Log records: other apps' bytes (a kind and a payload) in the same log as the transfers, each
log entry holding exactly one of the two. Existing entries (all transfers) are unchanged.
ledger/sql/ledger_records_v1.sql makes records immutable."""

import uuid
from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL = Path(__file__).resolve().parent.parent / "sql" / "ledger_records_v1.sql"


def install(apps, schema_editor):
    schema_editor.execute(SQL.read_text(), params=None)


def uninstall(apps, schema_editor):
    schema_editor.execute("DROP TRIGGER IF EXISTS ledger_logrecord_immutable ON ledger_logrecord", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS ledger_refuse_record_change()", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_set_based_references'),
    ]

    operations = [
        migrations.CreateModel(
            name='LogRecord',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('kind', models.CharField(max_length=64)),
                ('payload', models.BinaryField()),
                ('created_at', models.DateTimeField()),
            ],
        ),
        migrations.AlterField(
            model_name='logentry',
            name='transfer',
            field=models.OneToOneField(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='log_entry', to='ledger.transfer'),
        ),
        migrations.CreateModel(
            name='LogRecordQueue',
            fields=[
                ('record', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to='ledger.logrecord')),
            ],
        ),
        migrations.AddConstraint(
            model_name='logrecord',
            constraint=models.CheckConstraint(condition=models.Q(('kind__regex', '^[a-z][a-z0-9_.]{0,63}$')), name='ledger_record_kind'),
        ),
        migrations.AddField(
            model_name='logentry',
            name='record',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.logrecord'),
        ),
        migrations.AddConstraint(
            model_name='logentry',
            constraint=models.UniqueConstraint(condition=models.Q(('record__isnull', False)), fields=('record',), name='ledger_logentry_record_once'),
        ),
        migrations.AddConstraint(
            model_name='logentry',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('record__isnull', True), ('transfer__isnull', False)), models.Q(('record__isnull', False), ('transfer__isnull', True)), _connector='OR'), name='ledger_logentry_one_leaf'),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
