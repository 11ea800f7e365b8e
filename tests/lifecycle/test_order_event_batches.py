"""The events one transaction records are dispatched by ONE task published once on its commit;
events rolled back with a savepoint are not dispatched; outside a transaction it is at once."""

from __future__ import annotations

import pytest
from django.db import transaction

from payments.dispatch import tasks as lifecycle_tasks
from payments.dispatch.tasks import dispatch_order_event, dispatch_order_events
from payments.fulfilment import tasks as fulfilment_tasks
from payments.models import EmailNotification, WebhookDelivery
from payments.orders.events import dispatch_after_commit, record_order_event, record_order_events
from payments.orders.models import OrderEvent
from payments.webhooks import deliveries as webhook_services
from tests.lifecycle.accept_fixtures import (
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    place_order,
)
from tests.lifecycle.lifecycle_fixtures import card
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, sub_order_of

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.test/clearhouse"


@pytest.fixture
def published(monkeypatch) -> list[list[int]]:
    """The id lists of the dispatch tasks published, in order."""
    calls: list[list[int]] = []
    monkeypatch.setattr(lifecycle_tasks.dispatch_order_events, "delay", calls.append)
    return calls


def event(order, kind="order.shipped", sub_order=None) -> OrderEvent:
    return record_order_event(order=order, kind=kind, actor="system", sub_order=sub_order)


class Rollback(Exception):
    pass


def test_the_events_of_one_transaction_go_out_in_one_task(
    order, seller_a, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = event(order)
        with transaction.atomic():  # a released savepoint changes nothing
            second = event(order, sub_order=sub_order_of(order, seller_a))
        both = record_order_events(
            order=order,
            actor="system",
            entries=[("order.shipped", None, {}), ("order.confirmed", None, {"a": 1})],
        )
        # A row the payment fast path wrote in SQL joins the same task.
        in_sql = OrderEvent.objects.create(order_id=order.pk, kind="order.paid", actor="sql")
        dispatch_after_commit([in_sql.pk])
        assert published == []  # nothing before commit
    assert published == [[first.pk, second.pk, both[0].pk, both[1].pk, in_sql.pk]]
    assert [e.kind for e in both] == ["order.shipped", "order.confirmed"]
    assert OrderEvent.objects.get(pk=both[1].pk).data == {"a": 1}


def test_an_event_rolled_back_with_a_savepoint_is_not_dispatched(
    order, seller_a, published, django_capture_on_commit_callbacks, enqueued
):
    make_endpoint(seller_a, URL, [])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = event(order)
        try:
            with transaction.atomic():
                event(order, kind="order.rejected")
                raise Rollback
        except Rollback:
            pass
        after = event(order)
    assert len(published) == 1  # still one task for the transaction
    assert not OrderEvent.objects.filter(kind="order.rejected").exists()
    # The dispatcher skips the id whose row was rolled back.
    assert dispatch_order_events(published[0]) == 2
    dispatched = OrderEvent.objects.filter(dispatched_at__isnull=False)
    assert set(dispatched.values_list("pk", flat=True)) == {kept.pk, after.pk}
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == {kept.pk, after.pk}
    assert set(EmailNotification.objects.values_list("event_id", flat=True)) <= {kept.pk, after.pk}


def test_a_transaction_whose_first_events_were_rolled_back_publishes_only_the_rest(
    order, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                event(order)
                event(order)
                raise Rollback
        except Rollback:
            pass
        kept = event(order)
    assert published == [[kept.pk]]


def test_a_savepoint_rolling_back_every_event_publishes_nothing(
    order, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                event(order)
                raise Rollback
        except Rollback:
            pass
    assert published == []


def test_the_dispatchers_tolerate_missing_ids_and_skip_dispatched_events(order, enqueued):
    dispatch_order_event(987654321)  # the old per-event task: logs and returns
    done = event(order)
    dispatch_order_event(done.pk)
    pending = event(order)
    assert dispatch_order_events([987654321, done.pk, pending.pk]) == 1
    assert OrderEvent.objects.filter(dispatched_at__isnull=True).count() == 0
    assert dispatch_order_events([done.pk, pending.pk]) == 0  # a replay does nothing


def test_one_failing_event_does_not_hold_up_the_others(order, monkeypatch, enqueued):
    first, failing, last = event(order), event(order), event(order)
    dispatch = webhook_services.webhook_dispatch_event

    def flaky(e):
        if e.pk == failing.pk:
            raise ConnectionError("database hiccup")
        return dispatch(e)

    monkeypatch.setattr(webhook_services, "webhook_dispatch_event", flaky)
    with pytest.raises(ConnectionError):  # autoretry_for: Celery retries the task with backoff
        dispatch_order_events([first.pk, failing.pk, last.pk])
    undispatched = OrderEvent.objects.filter(dispatched_at__isnull=True)
    assert list(undispatched.values_list("pk", flat=True)) == [failing.pk]
    monkeypatch.setattr(webhook_services, "webhook_dispatch_event", dispatch)
    assert dispatch_order_events([first.pk, failing.pk, last.pk]) == 1  # the retry
    assert not undispatched.exists()


def test_the_batch_task_retries_like_the_other_fan_out_tasks():
    task = dispatch_order_events
    assert task.name == "payments.dispatch_order_events"
    assert task.acks_late and task.autoretry_for == (Exception,) and task.max_retries == 10
    assert dispatch_order_event.name == "payments.dispatch_order_event"  # still consumed


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_event_is_published_at_once(order, published):
    first = event(order)
    assert published == [[first.pk]]
    second = event(order)
    assert published == [[first.pk], [second.pk]]


@pytest.mark.django_db(transaction=True)
def test_each_transaction_publishes_its_own_task(order, published):
    with transaction.atomic():
        first = [event(order), event(order)]
    with transaction.atomic():
        second = event(order)
    try:
        with transaction.atomic():
            event(order)
            raise Rollback
    except Rollback:
        pass
    with transaction.atomic():
        third = event(order)
    assert published == [[e.pk for e in first], [second.pk], [third.pk]]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_run_by_an_on_commit_callback_has_its_own_task(order, published):
    inner: list[OrderEvent] = []

    def after_commit() -> None:  # like the new-key hook that seals in its own transaction
        with transaction.atomic():
            inner.append(event(order))

    with transaction.atomic():
        transaction.on_commit(after_commit)
        outer = event(order)
    assert published == [[inner[0].pk], [outer.pk]]


def test_paying_publishes_one_dispatch_task_and_no_sealing_task(
    key_pool, published, monkeypatch, django_capture_on_commit_callbacks
):
    from payments.flows.start import payment_start

    sealing: list[str] = []
    monkeypatch.setattr(fulfilment_tasks.seal_order_documents, "delay", sealing.append)
    sellers = [make_seller(key_pool), make_seller(key_pool)]
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(s, price=1000), 1) for s in sellers])
    with django_capture_on_commit_callbacks(execute=True):
        payment_start(order=order, method="card", card=card(), actor=f"buyer:{buyer.pk}")
    kinds = dict(OrderEvent.objects.filter(order=order).values_list("pk", "kind"))
    assert sorted(kinds.values()) == ["order.paid", "order.paid", "payment.authorized"]
    assert published == [sorted(kinds)]
    assert sealing == []  # the dispatch of order.paid seals
