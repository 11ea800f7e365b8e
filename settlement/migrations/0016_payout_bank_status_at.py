"""Payouts keep the bank's own time of their state (bank_status_at), by which an answer about an
earlier state arriving late is told from one that contradicts it (settlement.payouts.answers).
NULL for payouts already there: the bank's time of their state was not kept."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0015_workitem_statement_conflict"),
    ]

    operations = [
        migrations.AddField(
            model_name="payout",
            name="bank_status_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
