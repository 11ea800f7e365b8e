from django.db import migrations, models


class Migration(migrations.Migration):
    """A payout to a US account: its ABA routing and account number (the IBAN left blank)."""

    dependencies = [("settlement", "0011_reconciliation")]

    operations = [
        migrations.AddField(
            model_name="payout",
            name="account_number",
            field=models.CharField(blank=True, db_default="", default="", max_length=34),
        ),
        migrations.AddField(
            model_name="payout",
            name="routing_number",
            field=models.CharField(blank=True, db_default="", default="", max_length=20),
        ),
    ]
