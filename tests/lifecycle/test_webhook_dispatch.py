"""Fan-out of order events to sellers' endpoints, the sweeper, SSRF rules, payment events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from core.errors import ValidationError
from payments.dispatch.tasks import dispatch_order_event, webhook_sweep
from payments.flows.state import payment_transition
from payments.models import Payment, WebhookDelivery
from payments.orders.models import OrderEvent
from payments.webhooks.endpoints import webhook_endpoint_delete, webhook_endpoint_update
from payments.webhooks.http import UnsafeUrl, validate_webhook_url
from payments.webhooks.models import DeliveryStatus
from payments.webhooks.tasks import deliver_webhook
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, payment_data, record, sub_order_of

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.test/clearhouse"


def deliveries_for(event):
    return {d.endpoint_id: d for d in WebhookDelivery.objects.filter(event=event)}


def test_dispatch_fans_out_only_to_subscribed_live_endpoints_of_the_sellers_concerned(
    order, seller_a, seller_b, enqueued
):
    a_accepted, _ = make_endpoint(seller_a, URL + "/1", ["order.accepted"])
    a_all, _ = make_endpoint(seller_a, URL + "/2", [])
    a_star, _ = make_endpoint(seller_a, URL + "/3", ["*"])
    _a_shipped, _ = make_endpoint(seller_a, URL + "/4", ["order.shipped"])
    _a_disabled, _ = make_endpoint(seller_a, URL + "/5", [], is_active=False)
    a_deleted, _ = make_endpoint(seller_a, URL + "/6", [])
    webhook_endpoint_delete(endpoint=a_deleted)
    b_all, _ = make_endpoint(seller_b, URL + "/7", [])

    accepted = record(order, "order.accepted", sub_order=sub_order_of(order, seller_a))
    dispatch_order_event(accepted.pk)

    # Seller B's endpoint never receives seller A's sub-order events.
    assert set(deliveries_for(accepted)) == {a_accepted.pk, a_all.pk, a_star.pk}
    accepted.refresh_from_db()
    assert accepted.dispatched_at is not None

    # An order-level event goes to every seller of the order, each seeing only its own part.
    authorized = record(order, "payment.authorized", data=payment_data(order))
    dispatch_order_event(authorized.pk)
    by_endpoint = deliveries_for(authorized)
    assert set(by_endpoint) == {a_all.pk, a_star.pk, b_all.pk}
    b_data = by_endpoint[b_all.pk].payload["data"]
    b_sub = sub_order_of(order, seller_b)
    assert b_data["sub_orders"] == [
        {"id": b_sub.id, "seller_id": seller_b.pk, "amount_minor": 2500}
    ]
    assert b_data["amount_minor"] == 2500  # not the order total, which includes A's part
    assert by_endpoint[a_all.pk].payload["data"]["amount_minor"] == 1500


def test_dispatching_twice_creates_nothing_new(order, seller_a, enqueued):
    endpoint, _ = make_endpoint(seller_a, URL)
    event = record(order, "order.shipped", sub_order=sub_order_of(order, seller_a))
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch_order_event(event.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        dispatch_order_event(event.pk)

    [delivery] = WebhookDelivery.objects.filter(event=event)
    assert delivery.endpoint == endpoint
    assert enqueued == [(delivery.pk, None)]


def test_an_endpoint_unsubscribing_or_disabled_later_gets_no_new_events(order, seller_a, enqueued):
    endpoint, _ = make_endpoint(seller_a, URL)
    webhook_endpoint_update(endpoint=endpoint, event_types=["refund.succeeded"])
    dispatch_order_event(record(order, "order.shipped", sub_order=sub_order_of(order, seller_a)).pk)
    webhook_endpoint_update(endpoint=endpoint, event_types=[], is_active=False)
    dispatch_order_event(record(order, "order.shipped", sub_order=sub_order_of(order, seller_a)).pk)
    assert not WebhookDelivery.objects.exists()


def test_the_sweeper_redispatches_lost_events_and_enqueues_due_deliveries(
    order, seller_a, enqueued, monkeypatch
):
    make_endpoint(seller_a, URL)
    dispatched: list[int] = []
    from payments.dispatch import tasks as lifecycle_tasks

    monkeypatch.setattr(lifecycle_tasks.dispatch_order_event, "delay", dispatched.append)
    lost = record(order, "order.shipped", sub_order=sub_order_of(order, seller_a))
    fresh = record(order, "order.confirmed", sub_order=sub_order_of(order, seller_a))
    OrderEvent.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=2)
    )

    assert webhook_sweep() == {"events": 1, "deliveries": 0}
    assert dispatched == [lost.pk]  # the fresh one may still be on its way

    dispatch_order_event(lost.pk)
    dispatch_order_event(fresh.pk)
    [due, not_due] = WebhookDelivery.objects.order_by("created_at")
    WebhookDelivery.objects.filter(pk=not_due.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    enqueued.clear()
    dispatched.clear()

    assert webhook_sweep() == {"events": 0, "deliveries": 1}
    assert enqueued == [(due.pk, None)]
    assert dispatched == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.test/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "hooks.example.test/no-scheme",
        "https://user:pw@hooks.example.test/",
        "http:///no-host",
        "",
    ],
)
def test_non_http_urls_are_refused(url, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = True
    with pytest.raises(UnsafeUrl) as caught:
        validate_webhook_url(url)
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_with_the_production_flag(url, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(UnsafeUrl, match="private or reserved"):
        validate_webhook_url(url)


def test_public_addresses_pass_with_the_production_flag(settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False
    assert (
        validate_webhook_url("https://93.184.215.14/hook?x=1") == "https://93.184.215.14/hook?x=1"
    )


def test_registration_refuses_a_private_url_and_changes_nothing(seller_a, settings):
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        make_endpoint(seller_a, "http://127.0.0.1/hook")
    assert caught.value.field == "url"
    assert not seller_a.webhook_endpoints.exists()


def test_the_address_is_checked_again_at_send_time(order, seller_a, receiver, enqueued, settings):
    """Registered while allowed (or DNS changed since): nothing is sent to a private address."""
    endpoint, _ = make_endpoint(seller_a, receiver.url)
    event = record(order, "order.accepted", sub_order=sub_order_of(order, seller_a))
    dispatch_order_event(event.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    settings.CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False

    assert deliver_webhook(delivery.pk) == "retry"

    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert "private" in delivery.last_error and delivery.last_response_code is None


def test_payment_transitions_record_payment_events_without_card_data(order):
    payment = Payment.objects.create(
        order=order,
        method="card",
        provider="sandbox_card",
        amount_minor=order.total_minor,
        currency=order.currency,
        provider_reference=f"ref-{order.number}",
        details={"card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}},
    )
    payment_transition(payment_id=payment.id, to_status="authorized", actor="provider:sandbox")
    payment_transition(payment_id=payment.id, to_status="captured", actor="system")

    events = list(OrderEvent.objects.filter(order=order, kind__startswith="payment."))
    assert [e.kind for e in events] == ["payment.authorized", "payment.captured"]
    authorized = events[0]
    assert authorized.sub_order_id is None and authorized.actor == "provider:sandbox"
    assert authorized.data["payment_id"] == str(payment.id)
    assert authorized.data["amount_minor"] == 4000 and authorized.data["currency"] == "EUR"
    assert authorized.data["method"] == "card" and authorized.data["status"] == "authorized"
    assert len(authorized.data["sub_orders"]) == 2
    assert "4242" not in str(authorized.data) and "card" not in authorized.data
    assert events[1].data["captured_minor"] == 4000


def test_a_failed_payment_records_payment_failed(order):
    payment = Payment.objects.create(
        order=order,
        method="card",
        provider="sandbox_card",
        amount_minor=order.total_minor,
        currency=order.currency,
    )
    payment_transition(
        payment_id=payment.id,
        to_status="failed",
        actor="provider:sandbox",
        fields={"failure_code": "card_declined"},
    )
    event = OrderEvent.objects.get(order=order, kind="payment.failed")
    assert event.data["failure_code"] == "card_declined" and event.data["status"] == "failed"


def test_the_sweeper_runs_from_beat_and_the_tasks_are_registered(settings):
    import payments.tasks  # noqa: F401 - what the worker's autodiscovery imports
    from config.celery import app

    assert settings.CELERY_BEAT_SCHEDULE["webhooks-sweep"]["task"] == "payments.webhook_sweep"
    for name in (
        "payments.webhook_sweep",
        "payments.deliver_webhook",
        "payments.dispatch_order_event",
    ):
        assert name in app.tasks
        assert app.tasks[name].acks_late is True


def test_service_input_errors_name_their_field(seller_a, buyer):
    from payments.webhooks.endpoints import webhook_endpoint_create

    for kwargs, field in (
        ({"url": URL, "description": "x" * 201}, "description"),
        ({"url": URL, "event_types": ["nope"]}, "event_types"),
        ({"url": URL, "event_types": [1]}, "event_types"),
        ({"url": "mailto:a@b.test"}, "url"),
    ):
        with pytest.raises(ValidationError) as caught:
            webhook_endpoint_create(seller=seller_a, **kwargs)
        assert caught.value.field == field
    with pytest.raises(ValidationError):
        webhook_endpoint_create(seller=buyer, url=URL)
    assert not WebhookDelivery.objects.exists() and not seller_a.webhook_endpoints.exists()


@pytest.mark.parametrize(
    ("captured_minor", "seller_b_sees"),
    [(4000, 2500), (1500, None)],  # the whole payment captured; only seller A's part captured
)
def test_a_seller_never_sees_what_was_captured_of_other_sellers_parts(
    order, seller_a, seller_b, enqueued, captured_minor, seller_b_sees
):
    b_all, _ = make_endpoint(seller_b, URL + "/b", [])
    data = {**payment_data(order), "status": "captured", "captured_minor": captured_minor}
    assert data["amount_minor"] == 4000

    captured = record(order, "payment.captured", data=data)
    dispatch_order_event(captured.pk)

    seen = deliveries_for(captured)[b_all.pk].payload["data"]
    assert seen.get("captured_minor") == seller_b_sees
    assert seen["amount_minor"] == 2500
    assert 4000 not in seen.values()  # the order's total is not seller B's business
