"""seed_demo leaves the demo with a completed order whose receipt is issued and sealed; once the
demo seller is paid (the payouts' demo data, or here the fake bank), running it again has both
demo sides acknowledge, and the receipt is final, sealed and verifies offline."""

from io import StringIO

import pytest
from django.core.management import call_command

from payments.models import SubOrder, SubOrderStatus
from settlement.confirmations.models import Acknowledgement, AckState
from settlement.receipts.services import latest_receipt, receipt_file
from tests.settlement.receipt_fixtures import Sale, paid_out
from tests.settlement.test_verify_receipt import published_keys, run_tool

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    # Without the sandbox bank: no payout history, so the one completed order is unpaid.
    call_command("seed_demo", force=True, without_bank=True, stdout=out)
    return out.getvalue()


def test_seed_demo_receipts_are_sealed_and_final_once_the_seller_is_paid(tmp_path):
    first = seed()
    (sub_order,) = SubOrder.objects.filter(status=SubOrderStatus.CONFIRMED)
    receipt = latest_receipt(sub_order.pk)
    document = receipt_file(receipt)
    assert "Demo receipts: 1 issued and sealed, 0 final" in first
    assert document["receipt"]["status"] == "provisional"
    assert document["inclusion"] is not None
    assert seed() == first  # idempotent: no second order, the same receipt
    assert latest_receipt(sub_order.pk) == receipt

    order = sub_order.order
    paid_out(Sale(buyer=order.buyer, seller=sub_order.seller, order=order, sub_order=sub_order))
    again = seed()

    assert "Demo receipts: 1 issued and sealed, 1 final" in again
    assert set(Acknowledgement.objects.values_list("state", flat=True)) == {AckState.GIVEN}
    final = receipt_file(latest_receipt(sub_order.pk))
    assert final["receipt"]["status"] == "final"
    result = run_tool(tmp_path, final, published_keys())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "VERIFIED"
