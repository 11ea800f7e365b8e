"""The buyer reference kept on each sub-order (payments.orders.buyer_reference), filled in for the
orders made before, and the indexes of the seller's orders list (settlement/dashboard/orders.py):
one buyer's orders, and one state's, newest first."""

from django.db import migrations, models

BATCH = 2_000


def fill_buyer_references(apps, schema_editor):
    from payments.orders.buyer_reference import buyer_reference_for

    SubOrder = apps.get_model("payments", "SubOrder")
    rows = (
        SubOrder.objects.filter(buyer_reference="")
        .select_related("order")
        .only("id", "order__buyer_id", "order__buyer_email")
    )
    changed = []
    for sub_order in rows.iterator(chunk_size=BATCH):
        sub_order.buyer_reference = buyer_reference_for(
            buyer_id=sub_order.order.buyer_id, buyer_email=sub_order.order.buyer_email
        )
        changed.append(sub_order)
        if len(changed) == BATCH:
            SubOrder.objects.bulk_update(changed, ["buyer_reference"])
            changed = []
    SubOrder.objects.bulk_update(changed, ["buyer_reference"])


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0017_admin_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="suborder",
            name="buyer_reference",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.RunPython(fill_buyer_references, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="suborder",
            index=models.Index(
                fields=["seller", "status", "-created_at"], name="suborder_seller_status_recent"
            ),
        ),
        migrations.AddIndex(
            model_name="suborder",
            index=models.Index(
                fields=["seller", "buyer_reference", "-created_at"],
                name="suborder_seller_buyer_recent",
            ),
        ),
    ]
