# The admin's names: "sub-orders" (not "sub orders") and "webhook deliveries" (not "deliverys").
# Options only: no table changes.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("payments", "0016_seller_level_messages")]

    operations = [
        migrations.AlterModelOptions(name="suborder", options={"verbose_name": "sub-order"}),
        migrations.AlterModelOptions(
            name="webhookdelivery", options={"verbose_name_plural": "webhook deliveries"}
        ),
    ]
