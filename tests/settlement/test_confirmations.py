"""The two-sided confirmation of a paid payout: who is asked what, the signed answers, cases,
lapses, the confirmation record that completes, and every refusal changing nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from core import crypto
from ledger.models import LogRecord
from payments.models import OrderEvent
from settlement.confirmations import notifications, services
from settlement.confirmations.models import Acknowledgement, AckState, ConfirmationRecord
from settlement.confirmations.services import acknowledgement_record, acknowledgements_request
from settlement.confirmations.statements import buyer_key
from settlement.receipts.services import receipt_file, receipt_issue
from tests.accounts.factories import PASSWORD, BuyerFactory, SellerFactory, StaffFactory
from tests.concurrency import run_together
from tests.lifecycle.accept_fixtures import key_pool_fixture  # noqa: F401  (the key_pool fixture)
from tests.lifecycle.lifecycle_fixtures import client_for
from tests.settlement.confirmation_fixtures import (
    paid_sale,
    seller_signature,
    with_dashboard_keys,
)

pytestmark = pytest.mark.django_db


def answer_url(ack) -> str:
    return f"/api/v1/acknowledgements/{ack.pk}/answer"


def post(user, url: str, body: dict):
    return client_for(user).post(url, data=json.dumps(body), content_type="application/json")


def record_of(paid) -> dict:
    receipt = receipt_issue(sub_order_id=paid.sale.sub_order.pk)
    return json.loads(bytes(receipt.body))


def snapshot(ack) -> tuple:
    ack.refresh_from_db()
    return (ack.state, ack.answer, ack.answered_at, bytes(ack.signature or b""), ack.updated_at)


# --- Asking ------------------------------------------------------------------------------------


def test_a_paid_payout_asks_the_seller_and_each_buyer_once_with_fixed_statements(key_pool):
    paid = paid_sale(key_pool)

    assert acknowledgements_request(paid.payout.pk) == []  # idempotent
    assert Acknowledgement.objects.filter(payout=paid.payout).count() == 2
    seller_statement = json.loads(bytes(paid.seller_ack.statement))
    assert seller_statement == {
        "type": "clearhouse.payout_statement",
        "v": 1,
        "payout_id": str(paid.payout.pk),
        "seller": seller_statement["seller"],
        "amount_minor": paid.payout.amount_minor,
        "currency": "EUR",
        "bank_reference": paid.payout.bank_reference,
        "paid_at": seller_statement["paid_at"],
        "order_ids": [str(paid.sale.order.pk)],
    }
    buyer_statement = json.loads(bytes(paid.buyer_ack.statement))
    assert buyer_statement["type"] == "clearhouse.order_statement"
    assert buyer_statement["order_id"] == str(paid.sale.order.pk)
    assert buyer_statement["sub_order_id"] == paid.sale.sub_order.pk
    assert buyer_statement["paid_to_seller_minor"] > 0
    # The window is the plan's (7 days by default) from the payout's paid time.
    assert paid.seller_ack.due_at == paid.payout.paid_at + dt.timedelta(days=7)
    assert paid.buyer_ack.party_id == paid.sale.buyer.pk
    assert paid.seller_ack.party_id == paid.sale.seller.pk


def test_asking_mails_the_seller_once_and_records_the_buyers_order_event_once(key_pool):
    paid = paid_sale(key_pool)

    for _ in range(2):
        notifications.ask(paid.seller_ack.pk)
        notifications.ask(paid.buyer_ack.pk)

    subjects = [m.subject for m in mail.outbox if "acknowledge" in m.subject]
    assert len([s for s in subjects if s.startswith("Payout of")]) == 1
    events = OrderEvent.objects.filter(
        kind="order.acknowledgement_requested", sub_order=paid.sale.sub_order
    )
    assert events.count() == 1
    assert events.get().data["acknowledgement_id"] == str(paid.buyer_ack.pk)
    paid.seller_ack.refresh_from_db()
    assert paid.seller_ack.asked_at is not None


def test_the_window_comes_from_the_seller_plan(key_pool, settings):
    settings.CLEARHOUSE_FEE_PLANS = {
        name: {**plan, "acknowledge_days": 3}
        for name, plan in settings.CLEARHOUSE_FEE_PLANS.items()
    }
    paid = paid_sale(key_pool)
    assert paid.buyer_ack.due_at == paid.payout.paid_at + dt.timedelta(days=3)


# --- Answering ---------------------------------------------------------------------------------


def test_both_sides_acknowledge_and_the_record_completes_stored_and_logged_once(key_pool):
    paid = paid_sale(key_pool)
    assert record_of(paid)["confirmation_record"]["state"] == "open"

    response = post(paid.sale.seller, answer_url(paid.seller_ack), seller_signature(key_pool, paid))
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "given"
    response = post(paid.sale.buyer, answer_url(paid.buyer_ack), {"answer": "received"})
    assert response.status_code == 200, response.content
    for ack in (paid.seller_ack, paid.buyer_ack):
        acknowledgement_record(ack.pk)

    receipt = record_of(paid)
    record = receipt["confirmation_record"]
    assert receipt["status"] == "final"
    assert record["state"] == "complete"
    (entry,) = record["payouts"]
    assert entry["seller_acknowledgement"]["state"] == "given"
    assert entry["seller_acknowledgement"]["signature"]["signer"] == "seller"
    # The buyer's click is signed by the buyer's platform-held key, over the order statement.
    buyer = entry["buyer_acknowledgement"]
    assert buyer["signature"]["signer"] == "platform_buyer_key"
    assert buyer["signature"]["public_key_pem"] == buyer_key(paid.sale.buyer.pk)[1]
    crypto.verify(
        buyer["signature"]["public_key_pem"],
        base64.b64decode(buyer["signature"]["message"]),
        base64.b64decode(buyer["signature"]["value"]),
        algorithm="ed25519",
    )
    assert record["completed_at"] == max(
        entry["seller_acknowledgement"]["at"], entry["buyer_acknowledgement"]["at"]
    )
    (stored,) = ConfirmationRecord.objects.filter(sub_order=paid.sale.sub_order)
    assert stored.sha256 == receipt["confirmation_record_hash"]
    assert bytes(LogRecord.objects.get(pk=stored.pk).payload) == bytes(stored.body)
    assert LogRecord.objects.get(pk=stored.pk).kind == "confirmation_record"
    # Both sides are told, once.
    assert OrderEvent.objects.filter(kind="order.record_completed").count() == 1
    # Asking again changes nothing: the same receipt, the same record.
    assert record_of(paid) == receipt
    assert ConfirmationRecord.objects.count() == 1


def test_the_seller_acknowledges_on_the_dashboard_with_the_password(key_pool):
    paid = paid_sale(key_pool)
    with_dashboard_keys(paid.sale.seller)
    client = client_for(paid.sale.seller)
    url = f"/settlement/acknowledgements/{paid.seller_ack.pk}/answer"
    prefix = f"ack-{paid.seller_ack.pk}"

    wrong = client.post(url, {"action": "received", f"{prefix}-password": "not it"})
    assert wrong.status_code == 400
    assert "The password is not right." in wrong.content.decode()
    assert snapshot(paid.seller_ack)[0] == "pending"

    right = client.post(url, {"action": "received", f"{prefix}-password": PASSWORD})
    assert right.status_code == 302
    paid.seller_ack.refresh_from_db()
    assert paid.seller_ack.state == "given"
    crypto.verify(
        paid.seller_ack.public_pem,
        bytes(paid.seller_ack.statement),
        bytes(paid.seller_ack.signature),
        algorithm=paid.seller_ack.algorithm,
    )


def test_the_pages_list_what_waits_on_each_side(key_pool):
    paid = paid_sale(key_pool)

    seller_page = client_for(paid.sale.seller).get("/settlement/payouts/").content.decode()
    assert f'data-testid="ack-{paid.seller_ack.pk}"' in seller_page
    overview = client_for(paid.sale.seller).get(reverse("dashboard:live")).content.decode()
    assert "<strong>1</strong> payout to acknowledge" in overview
    order_page = client_for(paid.sale.buyer).get(f"/orders/{paid.sale.order.pk}/").content.decode()
    assert f'data-testid="ack-{paid.buyer_ack.pk}"' in order_page
    assert f'data-testid="receipt-pdf-{paid.sale.sub_order.pk}"' in order_page
    listing = client_for(paid.sale.buyer).get("/api/v1/acknowledgements?waiting=1").json()
    assert [row["id"] for row in listing["results"]] == [str(paid.buyer_ack.pk)]


def test_the_buyer_may_sign_with_a_key_of_their_own(key_pool):
    paid = paid_sale(key_pool)
    private, public = key_pool.signing(crypto.ED25519)
    signature = crypto.sign(private, bytes(paid.buyer_ack.statement), algorithm=crypto.ED25519)

    response = post(
        paid.sale.buyer,
        answer_url(paid.buyer_ack),
        {
            "answer": "received",
            "public_key_pem": public,
            "signature": base64.b64encode(signature).decode(),
        },
    )

    assert response.status_code == 200, response.content
    paid.buyer_ack.refresh_from_db()
    assert paid.buyer_ack.signer == "buyer"


# --- Refusals: a clear 4xx, and nothing changed -------------------------------------------------


def test_a_signature_over_other_bytes_is_refused_and_changes_nothing(key_pool):
    paid = paid_sale(key_pool)
    before = snapshot(paid.seller_ack)
    body = seller_signature(key_pool, paid, message=bytes(paid.seller_ack.statement) + b" ")

    response = post(paid.sale.seller, answer_url(paid.seller_ack), body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("signature_invalid", "signature")
    assert snapshot(paid.seller_ack) == before


def test_the_buyers_own_signature_over_other_bytes_is_refused(key_pool):
    paid = paid_sale(key_pool)
    before = snapshot(paid.buyer_ack)
    private, public = key_pool.signing(crypto.ED25519)
    signature = crypto.sign(private, b"something else", algorithm=crypto.ED25519)

    response = post(
        paid.sale.buyer,
        answer_url(paid.buyer_ack),
        {
            "answer": "received",
            "public_key_pem": public,
            "signature": base64.b64encode(signature).decode(),
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    assert snapshot(paid.buyer_ack) == before


def test_someone_not_party_to_it_gets_404_and_changes_nothing(key_pool):
    paid = paid_sale(key_pool)
    before = snapshot(paid.buyer_ack)
    for stranger in (BuyerFactory(), SellerFactory(), paid.sale.seller):
        response = post(stranger, answer_url(paid.buyer_ack), {"answer": "received"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "acknowledgement_not_found"
    assert (
        client_for(BuyerFactory()).get(f"/api/v1/acknowledgements/{paid.buyer_ack.pk}").status_code
        == 404
    )
    assert snapshot(paid.buyer_ack) == before


def test_answering_twice_is_a_conflict(key_pool):
    paid = paid_sale(key_pool)
    assert (
        post(paid.sale.buyer, answer_url(paid.buyer_ack), {"answer": "received"}).status_code == 200
    )
    before = snapshot(paid.buyer_ack)

    again = post(paid.sale.buyer, answer_url(paid.buyer_ack), {"answer": "wrong_amount"})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_acknowledged"
    assert snapshot(paid.buyer_ack) == before


def test_after_the_window_the_answer_is_refused_and_the_acknowledgement_lapses(key_pool):
    paid = paid_sale(key_pool)
    Acknowledgement.objects.filter(pk=paid.buyer_ack.pk).update(
        due_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = snapshot(paid.buyer_ack)

    late = post(paid.sale.buyer, answer_url(paid.buyer_ack), {"answer": "received"})

    assert late.status_code == 409
    assert late.json()["error"]["code"] == "acknowledgement_lapsed"
    assert snapshot(paid.buyer_ack) == before
    assert services.lapse_due() == [paid.buyer_ack.pk]
    paid.buyer_ack.refresh_from_db()
    assert paid.buyer_ack.state == "lapsed"


@pytest.mark.parametrize(
    "body",
    [{"answer": "maybe"}, {"answer": "received", "signature": "not base64!"}, {}],
    ids=["unknown-answer", "bad-signature-text", "no-answer"],
)
def test_malformed_answers_are_refused_in_the_error_shape(key_pool, body):
    paid = paid_sale(key_pool)
    before = snapshot(paid.seller_ack)

    response = post(paid.sale.seller, answer_url(paid.seller_ack), body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] in ("answer", "signature", "key_id")
    assert snapshot(paid.seller_ack) == before


# --- Lapses and cases --------------------------------------------------------------------------


def test_both_windows_lapsing_complete_the_record_as_automatic_acknowledgements(key_pool):
    paid = paid_sale(key_pool)

    lapsed = services.lapse_due(now=paid.seller_ack.due_at + dt.timedelta(seconds=1))
    for ack_id in lapsed:
        acknowledgement_record(ack_id)

    assert sorted(map(str, lapsed)) == sorted([str(paid.seller_ack.pk), str(paid.buyer_ack.pk)])
    receipt = record_of(paid)
    (entry,) = receipt["confirmation_record"]["payouts"]
    for side in ("seller", "buyer"):
        ack = entry[f"{side}_acknowledgement"]
        assert (ack["state"], ack["signature"], ack["answer"]) == ("lapsed", None, None)
        assert ack["at"] == receipt["confirmation_record"]["completed_at"]
    assert receipt["status"] == "final"


def test_not_received_opens_a_case_that_staff_resolve_and_the_record_then_completes(key_pool):
    paid = paid_sale(key_pool)
    staff = StaffFactory()
    response = post(
        paid.sale.seller,
        answer_url(paid.seller_ack),
        {"answer": "not_received", "note": "Nothing on my statement yet."},
    )
    assert response.status_code == 200, response.content
    assert response.json()["case"]["note"] == "Nothing on my statement yet."
    post(paid.sale.buyer, answer_url(paid.buyer_ack), {"answer": "received"})
    acknowledgement_record(paid.buyer_ack.pk)
    assert record_of(paid)["confirmation_record"]["state"] == "open"
    cases = client_for(staff).get("/api/v1/acknowledgements?state=disputed").json()["results"]
    assert [case["id"] for case in cases] == [str(paid.seller_ack.pk)]
    # Only staff resolve; the seller cannot close its own case.
    refused = post(
        paid.sale.seller,
        f"/api/v1/acknowledgements/{paid.seller_ack.pk}/resolve",
        {"resolution": "x"},
    )
    assert refused.status_code == 404

    resolved = post(
        staff,
        f"/api/v1/acknowledgements/{paid.seller_ack.pk}/resolve",
        {"resolution": "The bank confirmed the credit on the 3rd."},
    )
    assert resolved.status_code == 200, resolved.content
    acknowledgement_record(paid.seller_ack.pk)

    receipt = record_of(paid)
    (entry,) = receipt["confirmation_record"]["payouts"]
    assert entry["seller_acknowledgement"]["state"] == "resolved"
    assert entry["seller_acknowledgement"]["answer"] == "not_received"
    assert entry["seller_acknowledgement"]["case"]["resolved_at"] is not None
    assert receipt["confirmation_record"]["state"] == "complete"
    assert receipt["status"] == "final"
    again = post(
        staff, f"/api/v1/acknowledgements/{paid.seller_ack.pk}/resolve", {"resolution": "y"}
    )
    assert again.status_code == 409


def test_the_sweeper_asks_what_a_lost_message_left_and_lapses_what_is_due(key_pool):
    paid = paid_sale(key_pool)
    Acknowledgement.objects.update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert sorted(services.asks_due()) == sorted([paid.seller_ack.pk, paid.buyer_ack.pk])
    for ack_id in services.asks_due():
        notifications.ask(ack_id)
    assert services.asks_due() == []
    # Reminded once, the day before the window closes.
    day_before = paid.seller_ack.due_at - dt.timedelta(hours=12)
    assert len(services.reminders_due(now=day_before)) == 2
    assert services.reminders_due(now=day_before) == []


# --- Concurrency (PostgreSQL row locks and the record's advisory lock) --------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_acknowledgement_twice_at_once_is_given_once(key_pool):
    paid = paid_sale(key_pool)
    body = seller_signature(key_pool, paid)

    def answer():
        return services.seller_acknowledge(
            ack_id=paid.seller_ack.pk,
            seller=paid.sale.seller,
            key_id=body["key_id"],
            signature_b64=body["signature"],
        )

    results = run_together(answer, answer)

    assert sum(isinstance(r, Acknowledgement) for r in results) == 1
    (error,) = [r for r in results if not isinstance(r, Acknowledgement)]
    assert isinstance(error, services.AlreadyAnswered)


@pytest.mark.django_db(transaction=True)
def test_both_sides_closing_at_once_make_one_record(key_pool):
    paid = paid_sale(key_pool)
    body = seller_signature(key_pool, paid)

    def seller():
        services.seller_acknowledge(
            ack_id=paid.seller_ack.pk,
            seller=paid.sale.seller,
            key_id=body["key_id"],
            signature_b64=body["signature"],
        )
        return acknowledgement_record(paid.seller_ack.pk)

    def buyer():
        services.buyer_acknowledge(ack_id=paid.buyer_ack.pk, buyer=paid.sale.buyer)
        return acknowledgement_record(paid.buyer_ack.pk)

    results = run_together(seller, buyer)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert ConfirmationRecord.objects.filter(sub_order=paid.sale.sub_order).count() == 1
    assert (
        receipt_file(receipt_issue(sub_order_id=paid.sale.sub_order.pk))["receipt"]["status"]
        == "final"
    )
    assert LogRecord.objects.filter(kind="confirmation_record").count() == 1
    assert Acknowledgement.objects.filter(state=AckState.GIVEN).count() == 2


def test_a_revoked_key_does_not_acknowledge(key_pool):
    from accounts.models import SellerKey

    paid = paid_sale(key_pool)
    body = seller_signature(key_pool, paid)
    SellerKey.objects.filter(pk=body["key_id"]).update(revoked_at=timezone.now())
    before = snapshot(paid.seller_ack)

    response = post(paid.sale.seller, answer_url(paid.seller_ack), body)

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
        "key_revoked",
        "key_id",
    )
    assert snapshot(paid.seller_ack) == before
