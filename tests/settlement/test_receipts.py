"""Receipts: what they state, when a new one is issued, who may have one (the API and the
printable page), how they get into the ledger's log, and the export and verify commands."""

import base64
import datetime as dt
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from core import crypto
from core.canonical import canonical_json
from ledger.canonical_record import record_leaf_hash
from ledger.models import LogEntry, LogRecord, Transfer
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.models import SealedOrderDocument
from settlement.receipts.models import Receipt
from settlement.receipts.services import receipt_file, receipt_issue
from tests.accounts.factories import SellerFactory, StaffFactory
from tests.lifecycle.accept_fixtures import (
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    place_order,
)
from tests.lifecycle.lifecycle_fixtures import client_for
from tests.settlement.receipt_fixtures import accepted_sale, paid_out, sealed

pytestmark = pytest.mark.django_db


def utc_text(moment) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def receipt_url(sale, sub_order=None) -> str:
    query = f"?sub_order={sub_order}" if sub_order is not None else ""
    return f"/api/v1/orders/{sale.order.pk}/receipt{query}"


def fetch(user, sale, sub_order=None) -> dict:
    response = client_for(user).get(receipt_url(sale, sub_order))
    assert response.status_code == 200, response.content
    return response.json()


# --- What a receipt states -----------------------------------------------------------------


def test_a_receipt_states_the_parts_the_money_the_signatures_and_the_ledger_transfers(key_pool):
    sale = accepted_sale(key_pool)

    receipt = fetch(sale.buyer, sale)["receipt"]

    sub_order = sale.sub_order
    assert receipt["type"] == "clearhouse.receipt" and receipt["v"] == 1
    assert receipt["status"] == "provisional"
    assert receipt["order"]["number"] == sale.order.number
    assert receipt["sub_order"] == {"id": sub_order.pk, "status": "confirmed"}
    (line,) = sub_order.lines.all()
    assert receipt["items"] == [
        {"title": line.title, "unit_price_minor": 1250, "quantity": 2, "amount_minor": 2500}
    ]
    assert receipt["amounts"] == {
        "total_minor": 2500,
        "captured_minor": 2500,
        "refunded_minor": 0,
        "fee_minor": sub_order.fee_minor,
        "net_to_seller_minor": 2500 - sub_order.fee_minor,
    }
    assert sub_order.fee_minor > 0
    assert receipt["buyer_confirmation"] == {
        "state": "confirmed",
        "at": utc_text(sub_order.confirmed_at),
        "by": "buyer",
        "signature": None,
    }
    # The seller's acceptance: the exact document bytes it signed, and its signature over them.
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = receipt["acceptance"]["signature"]
    assert base64.b64decode(signature["message"]) == document.document_bytes
    assert receipt["acceptance"]["order_document_sha256"] == document.sha256
    crypto.verify(
        signature["public_key_pem"],
        document.document_bytes,
        base64.b64decode(signature["value"]),
        algorithm=signature["algorithm"],
    )
    # Every ledger transfer of this sub-order, and no other.
    mine = Transfer.objects.filter(metadata__sub_order=sub_order.pk)
    assert sorted(receipt["ledger_transfer_ids"]) == sorted(str(t.id) for t in mine)
    assert len(receipt["ledger_transfer_ids"]) == 4  # hold, capture, release net, fee
    # Parties are opaque ids and names: no e-mail address or user id.
    body = json.dumps(receipt)
    assert sale.buyer.email not in body and sale.seller.email not in body
    assert (
        receipt["buyer"]["id"].startswith("party_")
        and receipt["seller"]["id"] != receipt["buyer"]["id"]
    )
    assert receipt["seller"]["display_name"] == sale.seller.seller_profile.legal_name


def test_the_confirmation_record_is_bound_by_its_hash_and_waits_on_the_acknowledgements(key_pool):
    sale = accepted_sale(key_pool)

    before = fetch(sale.buyer, sale)["receipt"]
    payout = paid_out(sale)
    after = fetch(sale.buyer, sale)["receipt"]

    for receipt in (before, after):
        record = receipt["confirmation_record"]
        assert (
            receipt["confirmation_record_hash"]
            == hashlib.sha256(canonical_json(record)).hexdigest()
        )
        assert record["order_document_sha256"] == receipt["acceptance"]["order_document_sha256"]
        assert (
            record["acceptance_signature_sha256"]
            == hashlib.sha256(
                base64.b64decode(receipt["acceptance"]["signature"]["value"])
            ).hexdigest()
        )
        assert record["buyer_confirmation"] == receipt["buyer_confirmation"]
        assert record["state"] == "open" and record["corrects"] is None
    # Before the payout nothing is asked of either side; after it, both acknowledgements wait.
    assert before["confirmation_record"]["payouts"] == []
    assert before["confirmation_record"]["completed_at"] is None
    pending = {
        "state": "pending",
        "at": None,
        "answer": None,
        "statement_sha256": None,
        "signature": None,
        "case": None,
    }
    assert after["confirmation_record"]["payouts"] == [
        {
            "id": str(payout.pk),
            "status": "paid",
            "amount_minor": payout.amount_minor,
            "currency": "EUR",
            "bank_reference": payout.bank_reference,
            "paid_at": utc_text(payout.paid_at),
            "seller_acknowledgement": pending,
            "buyer_acknowledgement": pending,
        }
    ]
    # The matured transfer that the payout's batch covers is one of the receipt's transfers.
    assert len(after["ledger_transfer_ids"]) == 5


def test_asking_again_returns_the_same_receipt_and_new_facts_issue_one_that_supersedes_it(
    key_pool,
):
    sale = accepted_sale(key_pool, ship=False)
    first = fetch(sale.buyer, sale)["receipt"]
    again = fetch(sale.seller, sale)["receipt"]
    assert again == first
    assert Receipt.objects.count() == 1

    sub_order_mark_shipped(
        sub_order_id=sale.sub_order.pk, seller=sale.seller, actor=f"seller:{sale.seller.pk}"
    )
    second = fetch(sale.buyer, sale)["receipt"]

    assert second["sequence"] == 2
    assert second["receipt_id"] != first["receipt_id"]
    assert second["supersedes"] == {
        "receipt_id": first["receipt_id"],
        "sha256": hashlib.sha256(canonical_json(first)).hexdigest(),
    }
    assert second["sub_order"]["status"] == "shipped"
    assert Receipt.objects.count() == 2


def test_each_issued_receipt_is_a_log_record_whose_bytes_are_the_signed_receipt(key_pool):
    sale = accepted_sale(key_pool)
    receipt = receipt_issue(sub_order_id=sale.sub_order.pk)

    record = LogRecord.objects.get(pk=receipt.pk)
    assert record.kind == "receipt"
    assert bytes(record.payload) == bytes(receipt.body)
    crypto.platform_verify(bytes(receipt.body), bytes(receipt.signature))
    assert receipt_file(receipt)["inclusion"] is None

    sealed()

    entry = LogEntry.objects.get(record_id=receipt.pk)
    assert bytes(entry.leaf_hash) == record_leaf_hash("receipt", bytes(receipt.body))
    inclusion = receipt_file(receipt)["inclusion"]
    assert inclusion["log_index"] == entry.index
    assert inclusion["tree_head"]["tree_size"] == entry.index + 1


def test_the_proof_stays_the_one_of_the_first_seal_that_covered_it(key_pool):
    sale = accepted_sale(key_pool)
    receipt = receipt_issue(sub_order_id=sale.sub_order.pk)
    sealed()
    first = receipt_file(receipt)
    accepted_sale(key_pool)  # more transfers, and another seal
    sealed()

    assert receipt_file(receipt) == first


def test_an_unpaid_order_has_no_receipt_yet():
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(SellerFactory(), price=500), 1)])

    response = client_for(buyer).get(f"/api/v1/orders/{order.pk}/receipt")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "receipt_not_available"
    assert not Receipt.objects.exists()


# --- Who may have it -------------------------------------------------------------------------


def test_buyer_seller_and_staff_get_the_receipt_and_nobody_else_does(key_pool):
    sale = accepted_sale(key_pool)
    other = accepted_sale(key_pool)

    for user in (sale.buyer, sale.seller, StaffFactory()):
        assert fetch(user, sale)["receipt"]["order"]["id"] == str(sale.order.pk)
    for stranger in (other.buyer, other.seller, make_buyer()):
        response = client_for(stranger).get(receipt_url(sale))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Client().get(receipt_url(sale)).status_code in (401, 403)


def test_an_order_with_two_sellers_has_a_receipt_for_each_and_a_seller_sees_only_its_own(
    key_pool,
):
    sale = accepted_sale(key_pool, sellers=2)
    mine, theirs = list(sale.order.sub_orders.order_by("id"))
    assert mine.seller == sale.seller

    refused = client_for(sale.buyer).get(receipt_url(sale))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("receipt_sub_order_required", "sub_order")

    assert fetch(sale.buyer, sale, theirs.pk)["receipt"]["sub_order"]["id"] == theirs.pk
    # The seller needs no choice: its own part is the only one it may have.
    assert fetch(sale.seller, sale)["receipt"]["sub_order"]["id"] == mine.pk
    assert client_for(sale.seller).get(receipt_url(sale, theirs.pk)).status_code == 404
    assert client_for(theirs.seller).get(receipt_url(sale, mine.pk)).status_code == 404


@pytest.mark.parametrize("query", ["?sub_order=x", "?sub_order=-1", "?download=yes"])
def test_bad_query_parameters_are_refused_in_the_error_shape(key_pool, query):
    sale = accepted_sale(key_pool)

    response = client_for(sale.buyer).get(f"/api/v1/orders/{sale.order.pk}/receipt{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_download_asks_the_browser_to_save_the_file(key_pool):
    sale = accepted_sale(key_pool)

    response = client_for(sale.buyer).get(receipt_url(sale) + "?download=1")

    assert response["Content-Disposition"] == (
        f'attachment; filename="receipt-{sale.order.number}-{sale.sub_order.pk}.json"'
    )


# --- The printable page ----------------------------------------------------------------------


def test_the_printable_page_shows_the_receipt_to_its_parties_only(key_pool):
    sale = accepted_sale(key_pool)
    url = f"/settlement/orders/{sale.order.pk}/receipt"

    page = client_for(sale.buyer).get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert sale.order.number in html
    assert "€25.00" in html  # the total, formatted
    assert (
        f"/api/v1/orders/{sale.order.pk}/receipt?sub_order={sale.sub_order.pk}&amp;download=1"
        in html
    )
    assert "not sealed yet" in html
    # Everything it loads comes from this site.
    assert "https://" not in html and "http://" not in html
    assert client_for(make_buyer()).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page

    sealed()
    assert "sealed in the tree of size" in client_for(sale.seller).get(url).content.decode()


def test_the_page_of_an_order_with_two_sellers_lets_the_buyer_choose(key_pool):
    sale = accepted_sale(key_pool, sellers=2)

    page = client_for(sale.buyer).get(f"/settlement/orders/{sale.order.pk}/receipt")

    assert page.status_code == 200
    for sub_order in sale.order.sub_orders.all():
        assert f"?sub_order={sub_order.pk}" in page.content.decode()


# --- The commands ------------------------------------------------------------------------------


def test_export_receipt_writes_the_file_that_verify_receipt_verifies(key_pool, tmp_path):
    sale = accepted_sale(key_pool)
    receipt_issue(sub_order_id=sale.sub_order.pk)
    sealed()
    path = tmp_path / "receipt.json"

    call_command("export_receipt", str(sale.order.pk), "--out", str(path), stderr=io.StringIO())

    exported = json.loads(path.read_text())
    assert exported == fetch(sale.buyer, sale)
    out = io.StringIO()
    call_command("verify_receipt", str(path), stdout=out)
    assert out.getvalue().rstrip().endswith("VERIFIED")

    exported["receipt"]["amounts"]["total_minor"] += 1
    path.write_text(json.dumps(exported))
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify_receipt", str(path), stdout=out)
    assert failed.value.returncode == 1
    assert "FAILED receipt_signature" in out.getvalue()


def test_export_receipt_refuses_what_it_cannot_export(key_pool, tmp_path):
    sale = accepted_sale(key_pool, sellers=2)
    out = str(tmp_path / "r.json")

    with pytest.raises(CommandError, match="several sellers"):
        call_command("export_receipt", str(sale.order.pk), "--out", out)
    with pytest.raises(CommandError, match="not an order id"):
        call_command("export_receipt", "12", "--out", out)
    with pytest.raises(CommandError, match="is not part of order"):
        call_command("export_receipt", str(sale.order.pk), "--out", out, "--sub-order", "999999")
