"""Lifecycle emails: who gets what, once, from the dispatcher."""

from __future__ import annotations

import pytest
from django.core import mail

from payments.dispatch.tasks import dispatch_order_event
from payments.emails.sending import BUYER, SELLER, SUBJECTS, Recipient, render_email
from payments.models import EmailNotification
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import payment_data, record, sub_order_of

pytestmark = pytest.mark.django_db


def sent_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]


def test_payment_authorized_mails_the_buyer_and_every_seller_once_even_if_dispatched_twice(
    order, buyer, seller_a, seller_b
):
    event = record(order, "payment.authorized", actor="provider:sandbox", data=payment_data(order))

    dispatch_order_event(event.pk)
    dispatch_order_event(event.pk)  # a redelivered message, or the sweeper

    assert len(mail.outbox) == 3
    [to_buyer] = sent_to(buyer.email)
    assert to_buyer.subject == f"Order {order.number}: we received your order"
    assert "€40.00" in to_buyer.body or "40.00" in to_buyer.body
    assert f"/orders/{order.pk}/" in to_buyer.body
    [to_a] = sent_to(seller_a.email)
    assert to_a.subject == f"New order {order.number} is awaiting your acceptance"
    assert "15.00" in to_a.body and "25.00" not in to_a.body  # only seller A's part
    [to_b] = sent_to(seller_b.email)
    assert "25.00" in to_b.body and "15.00" not in to_b.body
    assert EmailNotification.objects.filter(event=event).count() == 3
    assert set(EmailNotification.objects.values_list("role", flat=True)) == {BUYER, SELLER}


def test_a_sub_order_event_mails_the_buyer_and_only_that_seller(order, buyer, seller_a, seller_b):
    event = record(
        order,
        "order.rejected",
        sub_order=sub_order_of(order, seller_a),
        actor=f"seller:{seller_a.pk}",
        data={"reason": "Out of stock"},
    )
    dispatch_order_event(event.pk)

    assert sorted(m.to[0] for m in mail.outbox) == sorted([buyer.email, seller_a.email])
    [to_buyer] = sent_to(buyer.email)
    assert "could not accept" in to_buyer.subject
    assert "Out of stock" in to_buyer.body
    assert sent_to(seller_b.email) == []


def test_events_without_email_send_nothing(order):
    dispatch_order_event(record(order, "order.paid").pk)
    dispatch_order_event(record(order, "refund.created").pk)
    assert mail.outbox == []


def test_a_guest_order_mails_the_checkout_email(seller_a, seller_b):
    from tests.payments.pay_factories import make_order

    guest_order = make_order(buyer=None, sellers=[seller_a, seller_b])
    dispatch_order_event(record(guest_order, "payment.authorized", data={}).pk)
    assert len(sent_to("guest@example.test")) == 1


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
@pytest.mark.parametrize("role", [BUYER, SELLER])
def test_every_email_renders_for_both_sides(order, seller_a, kind, role):
    sub_order = None if kind == "payment.authorized" else sub_order_of(order, seller_a)
    data = payment_data(order) if sub_order is None else {"amount_minor": 700, "currency": "EUR"}
    event = record(order, kind, sub_order=sub_order, data=data)
    recipient = Recipient(
        order.buyer_email if role == BUYER else seller_a.email,
        role,
        None if role == BUYER else seller_a.pk,
    )

    subject, body = render_email(event, recipient)

    assert order.number in subject and "{" not in subject
    assert order.number in body
    assert "&amp;" not in body and "&#x27;" not in body  # plain text, not HTML-escaped
    if kind == "refund.succeeded":
        assert "7.00" in subject


def test_emails_use_the_data_the_lifecycle_services_record(order, buyer, seller_a):
    sub_order = sub_order_of(order, seller_a)
    dispatch_order_event(
        record(order, "order.shipped", sub_order=sub_order, data={"tracking": "DHL 123"}).pk
    )
    dispatch_order_event(
        record(
            order,
            "dispute.resolved",
            sub_order=sub_order,
            data={"dispute": 1, "outcome": "buyer", "note": "Parcel lost"},
        ).pk
    )
    [shipped, resolved] = sent_to(buyer.email)
    assert "Tracking: DHL 123." in shipped.body
    assert "in the buyer's favour" in resolved.body and "Parcel lost" in resolved.body
    assert "refund follows" in resolved.body
