"""A payout's outcome reaches both sides: the seller by email and webhook (payout.paid / failed /
returned), each buyer whose order money a paid payout carries by an order.seller_paid event on the
order (timeline, API, email); once each, however often the notification runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import Role
from core.canonical import canonical_json
from payments.dispatch.tasks import dispatch_order_event
from payments.emails.models import EmailNotification
from payments.fulfilment.order_page import order_timeline
from payments.orders.models import OrderEvent
from payments.webhooks.deliveries import webhook_attempt_delivery
from payments.webhooks.models import WebhookDelivery
from settlement.batches import create_batches
from settlement.gateways.base import TransferResult
from settlement.maturation import mature_due
from settlement.models import FxRate, Payout, PayoutStatus
from settlement.payouts import answers, notifications, services
from tests.accounts.factories import SellerFactory
from tests.lifecycle.webhook_fixtures import make_endpoint, receiver  # noqa: F401 - a fixture
from tests.payments.pay_factories import make_order, make_user
from tests.settlement.factories import released
from tests.settlement.fake_bank import FakeBank
from tests.settlement.test_batches import MONDAY, PLANS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plans")]


@pytest.fixture
def plans():
    with override_settings(CLEARHOUSE_FEE_PLANS=PLANS):
        yield


@pytest.fixture
def deliveries_enqueued(monkeypatch):
    calls: list[str] = []
    from payments.webhooks import deliveries

    monkeypatch.setattr(
        deliveries, "_enqueue", lambda delivery_id, *, countdown=None: calls.append(delivery_id)
    )
    return calls


@pytest.fixture
def notified(monkeypatch):
    """The payouts whose notification finish() enqueued (instead of publishing the task)."""
    calls: list[str] = []
    monkeypatch.setattr(answers, "_enqueue_notify", lambda payout_id: calls.append(payout_id))
    return calls


def sold(seller, buyer, amount=4000, *, also=None):
    """An order with the seller's sub-order of `amount` (and one of `also`'s, not released) whose
    release matured into the seller's available balance."""
    sellers = [seller, also] if also else [seller]
    order = make_order(buyer=buyer, sellers=sellers, amounts=(amount, 999)[: len(sellers)])
    released(seller, net_minor=amount, sub_order=order.sub_orders.get(seller=seller).pk)
    mature_due()
    return order


def settled(seller, outcome="paid", *, failure=""):
    """The seller's batch paid out, then answered by the bank with `outcome`."""
    (batch,) = create_batches(day=MONDAY, sellers=[seller.pk])
    (payout_id,) = services.create_payouts([batch.pk])
    if outcome == "failed":
        return services.submit(payout_id, FakeBank(settle_as="rejected"))
    bank = FakeBank(settle_as="paid")
    payout = services.submit(payout_id, bank)
    if outcome == "returned":
        payout = services.apply_bank_answer(bank.settle(payout.bank_id, "returned", failure))
    return payout


def seller_mails(seller):
    return [m for m in mail.outbox if m.to == [seller.email]]


def test_a_paid_payout_tells_each_buyer_once_per_sub_order_and_the_seller_once(
    receiver,  # noqa: F811 - the fixture
    deliveries_enqueued,
    notified,
):
    seller, buyer, other_buyer = SellerFactory(), make_user(Role.BUYER), make_user(Role.BUYER)
    first = sold(seller, buyer, 1500, also=SellerFactory())
    second = sold(seller, buyer, 2500)
    third = sold(seller, other_buyer, 700)
    endpoint, secret = make_endpoint(seller, receiver.url, ["payout.paid", "order.seller_paid"])

    with TestCase.captureOnCommitCallbacks(execute=True):
        payout = settled(seller)
    assert payout.status == PayoutStatus.PAID and payout.amount_minor == 4_700
    assert notified == [payout.pk]  # _finish asked for the notification once the state committed

    with TestCase.captureOnCommitCallbacks(execute=True):
        done = notifications.notify_payout_settled(payout.pk)
    # Running it again (a retried task, a duplicate message) tells nobody anything twice.
    again = notifications.notify_payout_settled(payout.pk)
    assert done == {"order_events": 3, "webhooks": 1, "emails": 1}
    assert again == {"order_events": 0, "webhooks": 0, "emails": 0}

    # Buyers: one event per sub-order, with that sub-order's amount, on the order's timeline.
    events = OrderEvent.objects.filter(kind="order.seller_paid").order_by("sub_order_id")
    assert [(e.order_id, e.sub_order_id, e.data["amount_minor"]) for e in events] == [
        (order.pk, order.sub_orders.get(seller=seller).pk, amount)
        for order, amount in ((first, 1500), (second, 2500), (third, 700))
    ]
    assert all(
        e.data
        == {
            "payout_id": str(payout.pk),
            "paid_at": e.data["paid_at"],
            "amount_minor": e.data["amount_minor"],
            "currency": "EUR",
        }
        and e.data["paid_at"]
        for e in events
    )
    timeline = order_timeline(first, viewer=buyer)
    # Only this seller's sub-order: the order's other seller has not been paid.
    assert [(t.what, t.detail, t.sub_order_id) for t in timeline if "paid out" in t.what] == [
        ("Seller paid out to their bank", "€15.00", first.sub_orders.get(seller=seller).pk)
    ]
    # Dispatched like any order event: the buyer is mailed, the seller's subscribed endpoint gets
    # it; the seller is not mailed once per order (the payout's own email says it all).
    for event in events:
        dispatch_order_event(event.pk)
    to_buyer = [m for m in mail.outbox if m.to == [buyer.email]]
    assert len(to_buyer) == 2 and all("the seller has been paid" in m.subject for m in to_buyer)
    assert "has now been paid for order" in to_buyer[0].body
    assert len([m for m in mail.outbox if m.to == [other_buyer.email]]) == 1
    assert (
        WebhookDelivery.objects.filter(endpoint=endpoint, event_type="order.seller_paid").count()
        == 3
    )

    # Seller: one email and one signed webhook about the payout.
    [payout_mail] = seller_mails(seller)
    assert payout_mail.subject == "Payout of €47.00 paid to your bank"
    assert str(payout.pk) in payout_mail.body and payout.iban[-4:] in payout_mail.body
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type="payout.paid")
    assert delivery.event_id is None and delivery.topic == f"payout:{payout.pk}:paid"
    assert delivery.pk in deliveries_enqueued
    assert webhook_attempt_delivery(delivery.pk).status == "succeeded"
    [request] = [r for r in receiver.requests if r.headers["webhook-id"] == delivery.pk]
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["webhook-signature"].startswith("v1,")
    assert request.body == canonical_json(delivery.payload)
    body = Webhook(secret).verify(request.body, headers)
    payout.refresh_from_db()
    assert body["type"] == "payout.paid"
    assert body["data"] == {
        "payout_id": str(payout.pk),
        "batch_id": str(payout.batch_id),
        "amount_minor": 4_700,
        "currency": "EUR",
        "status": "paid",
        "bank_reference": payout.bank_reference,
        "failure_code": "",
        "failure_message": "",
        "iban_last4": payout.iban[-4:],
        "account_last4": payout.iban[-4:],
        "created_at": body["data"]["created_at"],
        "submitted_at": None,
        "paid_at": notifications._at(payout.paid_at),
        "failed_at": None,
        "returned_at": None,
    }
    assert body["data"]["bank_reference"]


@pytest.mark.parametrize(
    ("outcome", "subject", "failure_code"),
    [
        ("failed", "Payout of €40.00 failed: check your bank account", "invalid_account"),
        ("returned", "Payout of €40.00 came back from your bank", "closed_account"),
    ],
)
def test_a_failed_or_returned_payout_tells_the_seller_and_no_buyer(
    outcome,
    subject,
    failure_code,
    receiver,  # noqa: F811 - the fixture
    deliveries_enqueued,
    notified,
):
    seller, buyer = SellerFactory(), make_user(Role.BUYER)
    sold(seller, buyer)
    endpoint, secret = make_endpoint(seller, receiver.url, [f"payout.{outcome}"])
    payout = settled(seller, outcome, failure="closed_account")
    assert payout.status == outcome

    assert notifications.notify_payout_settled(payout.pk) == {
        "order_events": 0,
        "webhooks": 1,
        "emails": 1,
    }
    assert notifications.notify_payout_settled(payout.pk)["emails"] == 0
    assert not OrderEvent.objects.filter(kind="order.seller_paid").exists()
    [payout_mail] = seller_mails(seller)
    assert payout_mail.subject.startswith(subject)
    assert failure_code in payout_mail.body and "seller profile" in payout_mail.body
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.event_type, delivery.topic) == (
        f"payout.{outcome}",
        f"payout:{payout.pk}:{outcome}",
    )
    assert webhook_attempt_delivery(delivery.pk).status == "succeeded"
    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    body = Webhook(secret).verify(request.body, headers)
    assert (body["type"], body["data"]["status"], body["data"]["failure_code"]) == (
        f"payout.{outcome}",
        outcome,
        failure_code,
    )
    assert body["data"][f"{outcome}_at"]


def test_an_unsubscribed_endpoint_and_another_seller_get_nothing(
    receiver,  # noqa: F811 - the fixture
    deliveries_enqueued,
):
    seller, other = SellerFactory(), SellerFactory()
    sold(seller, make_user(Role.BUYER))
    make_endpoint(seller, receiver.url, ["order.shipped"])  # orders only
    make_endpoint(other, receiver.url)  # another seller's, all event types
    everything, _ = make_endpoint(seller, receiver.url, ["*"])
    payout = settled(seller)

    notifications.notify_payout_settled(payout.pk)

    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == [
        (everything.pk, "payout.paid")
    ]
    assert not seller_mails(other) and len(seller_mails(seller)) == 1
    assert not EmailNotification.objects.filter(recipient=other.email).exists()


def test_a_payout_not_final_tells_nobody():
    seller = SellerFactory()
    sold(seller, make_user(Role.BUYER))
    (batch,) = create_batches(day=MONDAY, sellers=[seller.pk])
    (payout_id,) = services.create_payouts([batch.pk])
    payout = services.submit(payout_id, FakeBank())
    assert payout.status == PayoutStatus.SUBMITTED
    assert notifications.notify_payout_settled(payout.pk) == {
        "order_events": 0,
        "webhooks": 0,
        "emails": 0,
    }
    assert mail.outbox == [] and not Payout.objects.exclude(status="submitted").exists()


def test_the_sweeper_tells_a_final_state_whose_notification_was_lost_and_a_later_return(
    deliveries_enqueued,
):
    seller = SellerFactory()
    sold(seller, make_user(Role.BUYER))
    payout = settled(seller)
    later = timezone.now() + services.NOTIFY_AFTER + dt.timedelta(seconds=1)
    # The task message was lost: not yet due, then due.
    assert services.due_for_notify() == []
    assert services.due_for_notify(now=later) == [payout.pk]

    notifications.notify_payout_settled(payout.pk)
    assert services.due_for_notify(now=later) == []

    # The money comes back: a new outcome to tell, and it is told once.
    returned = services.apply_bank_answer(
        TransferResult(
            payout_id=payout.bank_id,
            status="returned",
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            bank_reference=payout.bank_reference,
            failure_code="closed_account",
            failure_message="",
        )
    )
    assert returned.status == PayoutStatus.RETURNED
    assert services.due_for_notify(now=later) == [payout.pk]
    notifications.notify_payout_settled(payout.pk)
    assert services.due_for_notify(now=later) == []
    assert [m.subject.split(" ")[-1] for m in seller_mails(seller)] == ["bank", "account"]


def test_converted_money_tells_the_buyer_in_the_sales_currency():
    seller = SellerFactory(profile__settlement_currency="USD")
    buyer = make_user(Role.BUYER)
    FxRate.objects.create(
        base="EUR",
        quote="USD",
        rate=Decimal("1.085"),
        as_of=timezone.now() - dt.timedelta(hours=1),
        source="test",
    )
    order = sold(seller, buyer, 4000)  # EUR
    payout = settled(seller)
    assert (payout.status, payout.currency) == (PayoutStatus.PAID, "USD")

    notifications.notify_payout_settled(payout.pk)

    [event] = OrderEvent.objects.filter(kind="order.seller_paid")
    assert event.sub_order_id == order.sub_orders.get().pk
    assert (event.data["amount_minor"], event.data["currency"]) == (4000, "EUR")


def test_the_seller_sees_its_payouts_on_its_page_and_not_another_sellers(client):
    seller, other = SellerFactory(), SellerFactory()
    sold(seller, make_user(Role.BUYER))
    sold(other, make_user(Role.BUYER), 999)
    mine = settled(seller)
    settled(other, "failed")

    client.force_login(seller)
    page = client.get(reverse("settlement:payouts"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "40,00\xa0€" in html and "Paid" in html and mine.bank_reference in html  # de_DE
    assert "9,99" not in html and "Failed" not in html
    client.force_login(make_user(Role.BUYER))
    assert client.get(reverse("settlement:payouts")).status_code == 403


def test_a_payout_to_a_us_account_names_the_end_of_its_account_number(
    receiver,  # noqa: F811 - the fixture
    deliveries_enqueued,
    notified,
):
    # A US account has no IBAN: the seller is told the end of the account number, not "".
    seller = SellerFactory()
    sold(seller, make_user(Role.BUYER))
    make_endpoint(seller, receiver.url, ["payout.paid"])
    (batch,) = create_batches(day=MONDAY, sellers=[seller.pk])
    (payout_id,) = services.create_payouts([batch.pk])
    Payout.objects.filter(pk=payout_id).update(
        iban="", bic="", routing_number="021000021", account_number="000123456789"
    )
    payout = services.submit(payout_id, FakeBank(settle_as="paid"))
    assert payout.status == PayoutStatus.PAID

    notifications.notify_payout_settled(payout.pk)
    [payout_mail] = seller_mails(seller)
    assert "account ending 6789" in payout_mail.body
    delivery = WebhookDelivery.objects.get(event_type="payout.paid")
    assert (delivery.payload["data"]["account_last4"], delivery.payload["data"]["iban_last4"]) == (
        "6789",
        "",
    )
