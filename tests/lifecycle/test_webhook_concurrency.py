"""Two dispatchers of the same event at once (a redelivered message racing the sweeper): one
delivery per endpoint and one email per recipient, settled by unique constraints (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.core import mail

from payments.dispatch.tasks import dispatch_order_event
from payments.models import EmailNotification, WebhookDelivery
from tests.concurrency import run_together
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, payment_data, record

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_dispatches_make_one_delivery_per_endpoint_and_one_email_each(
    order, seller_a, seller_b, enqueued
):
    make_endpoint(seller_a, "https://a.example.test/")
    make_endpoint(seller_b, "https://b.example.test/")
    event = record(order, "payment.authorized", data=payment_data(order))

    results = run_together(*[lambda: dispatch_order_event(event.pk) for _ in range(3)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert EmailNotification.objects.filter(event=event).count() == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [order.buyer_email, seller_a.email, seller_b.email]
    )
    assert len({delivery_id for delivery_id, _ in enqueued}) == 2 == len(enqueued)
