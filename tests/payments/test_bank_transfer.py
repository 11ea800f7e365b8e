"""Bank transfer: instructions with an RF reference, arrivals through one service (exact, short,
long, late, unknown, repeated), expiry, the management command, the admin form, the bank feed."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from core.errors import Conflict, NotFound, ValidationError
from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from payments.flows.bank_arrivals import bank_transfer_record_arrival
from payments.flows.expiry import payments_expire_due
from payments.flows.models import BankTransferArrival
from payments.models import OrderStatus, Payment, PaymentEvent
from payments.providers.bank_transfer import sandbox_credit_notification
from payments.providers.rf_reference import check_digits, generate, grouped, is_valid
from tests.payments.pay_factories import make_user
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "reference",
    [
        "RF18539007547034",
        "RF18 5390 0754 7034",
        "rf18539007547034",
        "RF18000000000539007547034",
        "RF712348231",
        "RF45G72UUR",
        "RF6518K5",
    ],
)
def test_iso_11649_examples_are_valid(reference):
    assert is_valid(reference)


@pytest.mark.parametrize(
    "reference",
    [
        "RF19539007547034",
        "RF18539007547035",
        "RF1853900754703X!",
        "XX18539007547034",
        "RF18",
        "RF" + "1" * 24,
    ],
)
def test_invalid_references(reference):
    assert not is_valid(reference)


def test_generated_references_carry_correct_check_digits():
    for _ in range(200):
        reference = generate()
        assert is_valid(reference) and len(reference) == 20
        assert reference[2:4] == check_digits(reference[4:])
    assert check_digits("539007547034") == "18"
    assert grouped("RF18539007547034") == "RF18 5390 0754 7034"


def start_bank(client, order) -> dict:
    response = client.post(
        "/api/v1/payments/",
        json.dumps({"order": str(order.id), "method": "bank_transfer"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def arrive(body_or_reference, amount_minor, tx="TX-1", currency="EUR"):
    reference = (
        body_or_reference
        if isinstance(body_or_reference, str)
        else body_or_reference["bank_transfer"]["reference"]
    )
    return bank_transfer_record_arrival(
        reference=reference,
        amount_minor=amount_minor,
        currency=currency,
        bank_transaction_id=tx,
        actor="staff:1",
    )


def balance(code):
    return account_balance(account_by_code(currency="EUR", code=code).id)


def test_start_gives_account_details_reference_and_deadline(buyer_client, order, settings):
    settings.PLATFORM_BANK_IBAN = "GB33BUKB20201555555555"
    settings.PLATFORM_BANK_BIC = "BUKBGB22"
    settings.PLATFORM_BANK_NAME = "Clearhouse Escrow Ltd"
    settings.BANK_TRANSFER_EXPIRY_DAYS = 5
    body = start_bank(buyer_client, order)
    action = body["next_action"]
    assert body["status"] == "awaiting_transfer"
    assert action["type"] == "bank_transfer" and is_valid(action["reference"])
    assert (action["iban"], action["bic"], action["account_name"]) == (
        "GB33BUKB20201555555555",
        "BUKBGB22",
        "Clearhouse Escrow Ltd",
    )
    assert (action["amount_minor"], action["currency"], action["remaining_minor"]) == (
        4000,
        "EUR",
        4000,
    )
    deadline = timezone.datetime.fromisoformat(action["expires_at"])
    assert timedelta(days=4, hours=23) < deadline - timezone.now() <= timedelta(days=5)
    assert Transfer.objects.count() == 0
    page = buyer_client.get(action["url"])
    assert page.status_code == 200
    for text in (
        b"GB33BUKB20201555555555",
        b"BUKBGB22",
        grouped(action["reference"]).encode(),
        b"40.00",
    ):
        assert text in page.content
    assert b'<label for="bank-reference">' in page.content
    # Laid out as a bank prints it: the IBAN in fours, the reference alone in its own box.
    assert b"GB33 BUKB 2020 1555 5555 55" in page.content
    assert (
        b'class="copyable mono reference-box"' in page.content
        and grouped(action["reference"]).encode() + b"</output>" in page.content
    )


def test_exact_amount_authorises_and_captures_at_once(buyer_client, order):
    body = start_bank(buyer_client, order)
    result = arrive(body, 4000)
    assert (result.arrival.outcome, result.arrival.excess_minor, result.remaining_minor) == (
        "completed",
        0,
        0,
    )
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    assert list(payment.events.values_list("to_status", flat=True)) == [
        "created",
        "awaiting_transfer",
        "authorized",
        "captured",
    ]
    escrow = balance("platform:escrow")
    assert (escrow.credits_pending, escrow.credits_posted) == (0, 4000)
    receipts = balance("platform:bank_receipts")
    assert (receipts.credits_posted, receipts.debits_posted, receipts.debits_pending) == (
        4000,
        4000,
        0,
    )
    assert balance("external:bank_transfer").debits_posted == 4000
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sorted(
        Transfer.objects.get(pk=s.escrow_transfer_id).amount_minor for s in order.sub_orders.all()
    ) == [1500, 2500]


def test_same_bank_transaction_twice_changes_nothing(buyer_client, order):
    body = start_bank(buyer_client, order)
    arrive(body, 4000)
    counts = (
        Transfer.objects.count(),
        PaymentEvent.objects.count(),
        BankTransferArrival.objects.count(),
    )
    again = arrive(body, 4000)
    assert again.duplicate is True
    assert (
        Transfer.objects.count(),
        PaymentEvent.objects.count(),
        BankTransferArrival.objects.count(),
    ) == counts
    with pytest.raises(Conflict):
        arrive(body, 3999)


def test_underpaid_waits_for_the_rest_then_completes(buyer_client, order):
    body = start_bank(buyer_client, order)
    first = arrive(body, 1000, tx="TX-1")
    assert (first.arrival.outcome, first.received_minor, first.remaining_minor) == (
        "partial",
        1000,
        3000,
    )
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "awaiting_transfer"
    assert balance("platform:bank_receipts").credit_balance == 1000
    assert not Transfer.objects.filter(credit_account__code="platform:escrow").exists()
    api = buyer_client.get(f"/api/v1/payments/{body['id']}/").json()
    assert api["bank_transfer"] == {
        "reference": body["bank_transfer"]["reference"],
        "received_minor": 1000,
        "remaining_minor": 3000,
    }
    assert api["next_action"]["remaining_minor"] == 3000
    page = buyer_client.get(body["next_action"]["url"])
    assert b"We have received" in page.content and b"30.00" in page.content

    second = arrive(body, 3000, tx="TX-2")
    assert (second.arrival.outcome, second.remaining_minor) == ("completed", 0)
    assert Payment.objects.get(pk=body["id"]).status == "captured"
    assert balance("platform:escrow").credits_posted == 4000
    assert balance("platform:bank_receipts").credit_balance == 0


def test_overpaid_completes_and_keeps_the_excess_for_refund(buyer_client, order):
    body = start_bank(buyer_client, order)
    result = arrive(body, 5000)
    assert (result.arrival.outcome, result.arrival.excess_minor) == ("completed_with_excess", 1000)
    assert Payment.objects.get(pk=body["id"]).status == "captured"
    assert balance("platform:escrow").credits_posted == 4000
    assert balance("platform:bank_receipts").credit_balance == 1000  # owed back to the buyer


def test_unknown_or_invalid_reference_is_a_clear_error_and_writes_nothing(buyer_client, order):
    start_bank(buyer_client, order)
    unused = generate()
    with pytest.raises(NotFound) as caught:
        arrive(unused, 4000)
    assert (caught.value.code, caught.value.field) == ("unknown_reference", "reference")
    with pytest.raises(ValidationError) as caught:
        arrive("RF19539007547034", 4000)
    assert caught.value.field == "reference"
    assert (BankTransferArrival.objects.count(), Transfer.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        (0, "EUR", "amount"),
        (-5, "EUR", "amount"),
        (True, "EUR", "amount"),
        (4000, "eur", "currency"),
    ],
)
def test_bad_amounts_and_currencies(buyer_client, order, amount, currency, field):
    body = start_bank(buyer_client, order)
    with pytest.raises(ValidationError) as caught:
        arrive(body, amount, currency=currency)
    assert caught.value.field == field
    assert BankTransferArrival.objects.count() == 0


def test_wrong_currency_is_refused(buyer_client, order):
    body = start_bank(buyer_client, order)
    with pytest.raises(ValidationError) as caught:
        arrive(body, 4000, currency="USD")
    assert caught.value.field == "currency"
    assert (BankTransferArrival.objects.count(), Transfer.objects.count()) == (0, 0)


def test_unpaid_transfer_expires_and_a_late_arrival_is_kept_for_refund(
    buyer_client, order, settings
):
    body = start_bank(buyer_client, order)
    assert payments_expire_due()["bank_transfer"] == 0  # not yet due
    arrive(body, 1000, tx="TX-part")
    later = timezone.now() + timedelta(days=7, minutes=1)
    assert payments_expire_due(now=later)["bank_transfer"] == 1
    payment = Payment.objects.get(pk=body["id"])
    assert (payment.status, payment.failure_code) == ("expired", "bank_transfer_expired")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED

    late = arrive(body, 3000, tx="TX-late")
    assert (late.arrival.outcome, late.arrival.excess_minor) == ("late_expired", 3000)
    assert Payment.objects.get(pk=body["id"]).status == "expired"
    assert not Transfer.objects.filter(credit_account__code="platform:escrow").exists()
    assert balance("platform:bank_receipts").credit_balance == 4000  # all of it to be refunded


def test_record_incoming_transfer_command(buyer_client, order):
    body = start_bank(buyer_client, order)
    reference = body["bank_transfer"]["reference"]
    out = StringIO()
    call_command(
        "record_incoming_transfer",
        reference,
        "15.00",
        "EUR",
        "--bank-transaction-id",
        "TX-A",
        stdout=out,
    )
    assert "partial: TX-A 1500 EUR" in out.getvalue() and "remaining 2500" in out.getvalue()
    out = StringIO()
    call_command(
        "record_incoming_transfer",
        reference.lower(),
        "25",
        "eur",
        "--bank-transaction-id",
        "TX-B",
        stdout=out,
    )
    assert "completed" in out.getvalue()
    assert Payment.objects.get(pk=body["id"]).status == "captured"
    # Running it again is harmless.
    out = StringIO()
    call_command(
        "record_incoming_transfer",
        reference,
        "25",
        "EUR",
        "--bank-transaction-id",
        "TX-B",
        stdout=out,
    )
    assert "already recorded" in out.getvalue()
    assert BankTransferArrival.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["15.001", "EUR"], "not a valid amount"),
        (["abc", "EUR"], "not a valid amount"),
        (["1e3", "EUR"], "not a valid amount"),
        (["15", "XXX1"], "not a valid amount"),
    ],
)
def test_record_incoming_transfer_refuses_bad_amounts(buyer_client, order, args, message):
    body = start_bank(buyer_client, order)
    with pytest.raises(CommandError, match=message):
        call_command(
            "record_incoming_transfer", body["bank_transfer"]["reference"], *args, stdout=StringIO()
        )
    assert BankTransferArrival.objects.count() == 0


def test_record_incoming_transfer_unknown_reference(db):
    with pytest.raises(CommandError, match="unknown_reference"):
        call_command(
            "record_incoming_transfer",
            generate(),
            "10.00",
            "EUR",
            "--bank-transaction-id",
            "X",
            stdout=StringIO(),
        )


def test_staff_records_an_arrival_in_admin(buyer_client, order):
    body = start_bank(buyer_client, order)
    staff = make_user(Role.STAFF)
    staff.is_superuser = True
    staff.save()
    client = verify_second_factor(Client(), staff)
    url = "/admin/payments/banktransferarrival/record/"
    form = client.get(url)
    assert form.status_code == 200
    assert (
        b'<label for="id_reference">' in form.content and b'<label for="id_amount">' in form.content
    )
    bad = client.post(
        url,
        {"reference": "RF00123", "amount": "40.00", "currency": "EUR", "bank_transaction_id": "T"},
    )
    assert bad.status_code == 200 and b"not a valid RF reference" in bad.content
    response = client.post(
        url,
        {
            "reference": body["bank_transfer"]["reference"],
            "amount": "40.00",
            "currency": "EUR",
            "bank_transaction_id": "TX-ADMIN",
        },
    )
    assert response.status_code == 302
    arrival = BankTransferArrival.objects.get()
    assert (arrival.amount_minor, arrival.outcome, arrival.actor) == (
        4000,
        "completed",
        f"staff:{staff.pk}",
    )
    assert client.get("/admin/payments/banktransferarrival/").status_code == 200


def test_buyer_cannot_use_the_admin_form(buyer_client):
    response = buyer_client.get("/admin/payments/banktransferarrival/record/")
    assert response.status_code == 302  # to the admin login
    assert BankTransferArrival.objects.count() == 0


def test_bank_credit_feed_over_http(buyer_client, order):
    body = start_bank(buyer_client, order)
    params = sandbox_credit_notification(
        reference=body["bank_transfer"]["reference"],
        amount_minor=4000,
        currency="EUR",
        bank_transaction_id="FEED-1",
    )
    forged = {**params, "amount": "4000.00"}
    assert buyer_client.post("/pay/notify/bank_transfer/", forged).status_code == 400
    assert Payment.objects.get(pk=body["id"]).status == "awaiting_transfer"
    response = buyer_client.post("/pay/notify/bank_transfer/", params)
    assert (response.status_code, response.content) == (200, b"success")
    assert Payment.objects.get(pk=body["id"]).status == "captured"
    assert buyer_client.post("/pay/notify/bank_transfer/", params).content == b"success"
    assert BankTransferArrival.objects.count() == 1
