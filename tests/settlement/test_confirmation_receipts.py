"""The final receipt of a two-sided confirmation, checked by tools/verify_receipt.py in its own
process: complete with both signatures, complete by lapses, downloadable by both sides as JSON
and PDF (others 404); and each bad acknowledgement fails with its own message."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from core import crypto
from core.canonical import canonical_json
from settlement.confirmations import services
from settlement.confirmations.services import acknowledgement_record
from tests.accounts.factories import BuyerFactory, SellerFactory
from tests.lifecycle.accept_fixtures import key_pool_fixture  # noqa: F401  (the key_pool fixture)
from tests.lifecycle.lifecycle_fixtures import client_for
from tests.settlement.confirmation_fixtures import paid_sale, seller_signature
from tests.settlement.receipt_fixtures import sealed
from tests.settlement.test_verify_receipt import published_keys, resigned, run_tool

pytestmark = pytest.mark.django_db


def download(user, sale) -> dict:
    response = client_for(user).get(f"/api/v1/orders/{sale.order.pk}/receipt")
    assert response.status_code == 200, response.content
    return response.json()


def acknowledged(key_pool):
    """Both sides acknowledged (the seller with its own key, the buyer by a click), the record
    complete, the final receipt sealed."""
    paid = paid_sale(key_pool)
    body = seller_signature(key_pool, paid)
    services.seller_acknowledge(
        ack_id=paid.seller_ack.pk,
        seller=paid.sale.seller,
        key_id=body["key_id"],
        signature_b64=body["signature"],
    )
    services.buyer_acknowledge(ack_id=paid.buyer_ack.pk, buyer=paid.sale.buyer)
    for ack in (paid.seller_ack, paid.buyer_ack):
        acknowledgement_record(ack.pk)
    sealed()
    return paid


@pytest.fixture
def final_receipt(key_pool):
    paid = acknowledged(key_pool)
    return paid, download(paid.sale.buyer, paid.sale)


def test_the_final_receipt_downloaded_by_both_verifies_with_both_acknowledgements(
    final_receipt, tmp_path
):
    paid, receipt = final_receipt
    assert download(paid.sale.seller, paid.sale) == receipt
    assert receipt["receipt"]["status"] == "final"
    assert receipt["inclusion"] is not None

    result = run_tool(tmp_path, receipt, published_keys())

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(", final")
    payout = paid.payout.pk
    assert f"ok: the seller's acknowledgement of payout {payout} verifies" in lines
    assert f"ok: the buyer's acknowledgement of payout {payout} verifies" in lines
    assert lines[-1] == "VERIFIED"


def test_with_both_windows_lapsed_the_final_receipt_verifies(key_pool, tmp_path):
    paid = paid_sale(key_pool)
    for ack_id in services.lapse_due(now=paid.seller_ack.due_at):
        acknowledgement_record(ack_id)
    sealed()

    receipt = download(paid.sale.seller, paid.sale)

    assert receipt["receipt"]["status"] == "final"
    result = run_tool(tmp_path, receipt, published_keys())
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "VERIFIED"


def test_both_download_the_pdf_and_nobody_else_does(final_receipt):
    paid, _ = final_receipt
    url = f"/settlement/orders/{paid.sale.order.pk}/receipt.pdf"
    for party in (paid.sale.buyer, paid.sale.seller):
        response = client_for(party).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment;")
        body = response.content
        assert body.startswith(b"%PDF-")
        # The signed receipt file travels inside the PDF.
        assert b"receipt.json" in body
    for stranger in (BuyerFactory(), SellerFactory()):
        assert client_for(stranger).get(url).status_code == 404


# --- Bad acknowledgements ----------------------------------------------------------------------


def _entry(receipt: dict) -> dict:
    return receipt["receipt"]["confirmation_record"]["payouts"][0]


def _rehash(receipt: dict) -> None:
    record = receipt["receipt"]["confirmation_record"]
    receipt["receipt"]["confirmation_record_hash"] = crypto.sha256(canonical_json(record)).hex()


def an_acknowledgement_signature_over_other_bytes(receipt, context):
    signature = _entry(receipt)["seller_acknowledgement"]["signature"]
    message = base64.b64decode(signature["message"]) + b" "
    signature["message"] = base64.b64encode(message).decode()
    _entry(receipt)["seller_acknowledgement"]["statement_sha256"] = crypto.sha256(message).hex()
    _rehash(receipt)
    return resigned(receipt)


def the_acknowledgement_of_another_payout(receipt, context):
    """The seller's real, valid signature from another sale's payout, copied in."""
    other = _entry(context["other"])
    _entry(receipt)["seller_acknowledgement"] = other["seller_acknowledgement"]
    _rehash(receipt)
    return resigned(receipt)


def a_given_acknowledgement_without_signature(receipt, context):
    _entry(receipt)["buyer_acknowledgement"]["signature"] = None
    _rehash(receipt)
    return resigned(receipt)


def a_final_receipt_with_an_open_record(receipt, context):
    _entry(receipt)["buyer_acknowledgement"].update(
        {"state": "pending", "at": None, "answer": None, "signature": None}
    )
    _entry(receipt)["buyer_acknowledgement"]["statement_sha256"] = None
    _rehash(receipt)
    return resigned(receipt)


BAD_ACKNOWLEDGEMENTS = {
    an_acknowledgement_signature_over_other_bytes: "FAILED seller_acknowledgement_signature: "
    "the seller's acknowledgement does not verify",
    the_acknowledgement_of_another_payout: "FAILED seller_acknowledgement: the seller signed "
    "the statement of another payout",
    a_given_acknowledgement_without_signature: "FAILED buyer_acknowledgement: the buyer's "
    "acknowledgement is given but not signed",
    a_final_receipt_with_an_open_record: "FAILED confirmation_record: the confirmation record "
    "says 'complete'",
}


@pytest.fixture
def two_final_receipts(key_pool):
    first, second = acknowledged(key_pool), acknowledged(key_pool)
    return download(first.sale.buyer, first.sale), download(second.sale.buyer, second.sale)


@pytest.mark.parametrize("spoil", list(BAD_ACKNOWLEDGEMENTS), ids=lambda spoil: spoil.__name__)
def test_each_bad_acknowledgement_fails_with_its_own_message(two_final_receipts, tmp_path, spoil):
    receipt, other = two_final_receipts
    keys = published_keys()
    assert run_tool(tmp_path, receipt, keys).returncode == 0

    bad = spoil(copy.deepcopy(receipt), {"other": other})
    result = run_tool(tmp_path, bad, keys)

    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith(BAD_ACKNOWLEDGEMENTS[spoil]), result.stdout
    assert len(result.stdout.splitlines()) == 1


def test_the_logged_record_is_the_receipts_record(final_receipt):
    from settlement.confirmations.models import ConfirmationRecord

    paid, receipt = final_receipt
    stored = ConfirmationRecord.objects.get(sub_order=paid.sale.sub_order)
    assert json.loads(bytes(stored.body)) == receipt["receipt"]["confirmation_record"]
