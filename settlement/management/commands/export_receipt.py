"""manage.py export_receipt ORDER_ID --out FILE [--sub-order ID]: write an order's receipt file."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from payments.models import SubOrder
from settlement.receipts.services import receipt_file, receipt_issue


class Command(BaseCommand):
    help = (
        "Write the signed receipt of an order (one seller's part of it) to a file, with its "
        "inclusion proof once the ledger is sealed past it. Verify it with "
        "tools/verify_receipt.py or manage.py verify_receipt."
    )

    def add_arguments(self, parser):
        parser.add_argument("order_id", help="the order's id (a UUID)")
        parser.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
        parser.add_argument(
            "--sub-order", type=int, help="which seller's part, when the order has several"
        )

    def handle(self, *args, order_id, out, sub_order, **options):
        try:
            order_uuid = uuid.UUID(order_id)
        except ValueError:
            raise CommandError(f"{order_id!r} is not an order id (a UUID)") from None
        ids = list(
            SubOrder.objects.filter(order_id=order_uuid).order_by("id").values_list("id", flat=True)
        )
        if not ids:
            raise CommandError(f"no order {order_id}")
        if sub_order is None and len(ids) > 1:
            raise CommandError(
                f"order {order_id} has several sellers: name one with --sub-order "
                f"({', '.join(map(str, ids))})"
            )
        chosen = ids[0] if sub_order is None else sub_order
        if chosen not in ids:
            raise CommandError(f"sub-order {chosen} is not part of order {order_id}")
        try:
            document = receipt_file(receipt_issue(sub_order_id=chosen))
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if out == "-":
            self.stdout.write(text, ending="")
            return
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        sealed = "sealed" if document["inclusion"] else "not sealed yet"
        self.stderr.write(
            f"export_receipt: receipt {document['receipt']['receipt_id']} ({sealed}) -> {out}"
        )
