"""The two-sided confirmation on the real stack: a real Celery worker (through Redis) asks both
sides once the payout is paid, brings the receipts up to date when they answer (or when the
sweeper lapses their windows), and seals the ledger; the final receipt, downloaded by buyer and
seller, is verified by tools/verify_receipt.py in its own process."""

from __future__ import annotations

import json
import time

import pytest

from ledger import seals
from ledger.tasks import seal_ledger
from settlement.confirmations.models import Acknowledgement, AckSide, ConfirmationRecord
from settlement.confirmations.tasks import acknowledgements_sweep
from settlement.payouts.tasks import payout_notify
from settlement.receipts.services import latest_receipt
from tests.lifecycle.accept_fixtures import key_pool_fixture  # noqa: F401  (the key_pool fixture)
from tests.lifecycle.lifecycle_fixtures import client_for
from tests.settlement.confirmation_fixtures import PaidSale, seller_signature
from tests.settlement.receipt_fixtures import accepted_sale, paid_out
from tests.settlement.test_verify_receipt import published_keys, run_tool

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_S = 30


def wait_for(predicate, what: str, worker):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} not within {WAIT_S} s; worker log:\n{worker.log_tail()}")


def asked_by_the_worker(key_pool, worker) -> PaidSale:
    """A sale paid out; the payout's notification task, run by the worker, asks both sides."""
    sale = accepted_sale(key_pool)
    payout = paid_out(sale)
    payout_notify.delay(str(payout.pk))
    acks = wait_for(
        lambda: (
            list(Acknowledgement.objects.filter(payout=payout, asked_at__isnull=False))
            if Acknowledgement.objects.filter(payout=payout, asked_at__isnull=False).count() == 2
            else None
        ),
        "both acknowledgements asked",
        worker,
    )
    by_side = {ack.side: ack for ack in acks}
    return PaidSale(
        sale=sale,
        payout=payout,
        seller_ack=by_side[AckSide.SELLER],
        buyer_ack=by_side[AckSide.BUYER],
    )


def covered_by_a_seal(receipt) -> bool:
    position = seals.record_log_position(receipt.pk) if receipt else None
    return position is not None and seals.first_seal_covering(position[0]) is not None


def sealed_final_receipts(paid: PaidSale, worker) -> list[dict]:
    wait_for(
        lambda: ConfirmationRecord.objects.filter(sub_order=paid.sale.sub_order).exists(),
        "the confirmation record",
        worker,
    )
    # seal_ledger ignores its result, so .get() would return at once: wait for the seal itself.
    seal_ledger.delay()
    wait_for(
        lambda: covered_by_a_seal(latest_receipt(paid.sale.sub_order.pk)),
        "a seal covering the final receipt",
        worker,
    )
    files = []
    for party in (paid.sale.buyer, paid.sale.seller):
        response = client_for(party).get(f"/api/v1/orders/{paid.sale.order.pk}/receipt")
        assert response.status_code == 200, response.content
        files.append(response.json())
    return files


def test_seller_signs_buyer_clicks_the_worker_completes_the_record_and_both_receipts_verify(
    key_pool, celery_worker, tmp_path
):
    paid = asked_by_the_worker(key_pool, celery_worker)

    seller = client_for(paid.sale.seller).post(
        f"/api/v1/acknowledgements/{paid.seller_ack.pk}/answer",
        data=json.dumps(seller_signature(key_pool, paid)),
        content_type="application/json",
    )
    assert seller.status_code == 200, seller.content
    buyer = client_for(paid.sale.buyer).post(
        f"/api/v1/acknowledgements/{paid.buyer_ack.pk}/answer",
        data=json.dumps({"answer": "received"}),
        content_type="application/json",
    )
    assert buyer.status_code == 200, buyer.content

    buyer_file, seller_file = sealed_final_receipts(paid, celery_worker)

    assert buyer_file == seller_file
    assert buyer_file["receipt"]["status"] == "final"
    assert buyer_file["inclusion"] is not None
    result = run_tool(tmp_path, buyer_file, published_keys())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "VERIFIED"
    (entry,) = buyer_file["receipt"]["confirmation_record"]["payouts"]
    assert entry["seller_acknowledgement"]["state"] == "given"
    assert entry["buyer_acknowledgement"]["state"] == "given"


def test_both_windows_lapse_in_the_sweeper_and_the_final_receipt_verifies(
    key_pool, celery_worker, tmp_path
):
    paid = asked_by_the_worker(key_pool, celery_worker)
    Acknowledgement.objects.filter(payout=paid.payout).update(due_at=paid.payout.paid_at)

    acknowledgements_sweep.delay()

    buyer_file, seller_file = sealed_final_receipts(paid, celery_worker)
    assert buyer_file == seller_file
    (entry,) = buyer_file["receipt"]["confirmation_record"]["payouts"]
    assert entry["seller_acknowledgement"]["state"] == "lapsed"
    assert entry["buyer_acknowledgement"]["state"] == "lapsed"
    result = run_tool(tmp_path, seller_file, published_keys())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "final" in result.stdout.splitlines()[0]
