"""The order events outbox relay (settings.ORDER_EVENTS_RELAY): the web side publishes nothing,
the relay hands committed events to dispatch tasks once each, in batches, and a real relay process
with a real worker gets a webhook out."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from payments.dispatch import tasks as lifecycle_tasks
from payments.orders import event_relay
from payments.orders.event_relay import undispatched_event_ids
from payments.orders.events import dispatch_after_commit, record_order_event
from payments.orders.models import OrderEvent
from tests.concurrency import run_together
from tests.integration.worker import BASE_DIR, database_url
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import make_endpoint, sub_order_of

relay_on = override_settings(ORDER_EVENTS_RELAY=True)


@pytest.fixture
def published(monkeypatch) -> list[list[int]]:
    """The id lists of the dispatch tasks published, in order."""
    calls: list[list[int]] = []
    monkeypatch.setattr(lifecycle_tasks.dispatch_order_events, "delay", calls.append)
    return calls


def events(order, count: int) -> list[int]:
    return [
        record_order_event(order=order, kind="order.shipped", actor="system").pk
        for _ in range(count)
    ]


@pytest.mark.django_db
@relay_on
def test_with_the_relay_a_transaction_publishes_nothing(
    order, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = record_order_event(order=order, kind="order.shipped", actor="system")
        in_sql = OrderEvent.objects.create(order_id=order.pk, kind="order.paid", actor="sql")
        dispatch_after_commit([in_sql.pk])
    assert callbacks == [] and published == []
    waiting = OrderEvent.objects.filter(pk__in=[event.pk, in_sql.pk], relayed_at__isnull=True)
    assert waiting.count() == 2


@pytest.mark.django_db
@relay_on
def test_a_round_hands_events_over_once_oldest_first_in_chunks(
    order, published, django_capture_on_commit_callbacks
):
    ids = events(order, 7)
    already = OrderEvent.objects.get(pk=ids[3])
    already.dispatched_at = timezone.now()  # the sweeper was first: not relayed again
    already.save()
    with django_capture_on_commit_callbacks(execute=True):
        claimed = event_relay.relay_order_events_once(limit=5, chunk=2)
    expected = [i for i in ids if i != ids[3]]
    assert claimed == expected[:5]
    assert published == [expected[0:2], expected[2:4], expected[4:5]]
    with django_capture_on_commit_callbacks(execute=True):
        assert event_relay.relay_order_events_once(limit=5, chunk=2) == expected[5:]
    with django_capture_on_commit_callbacks(execute=True):
        assert event_relay.relay_order_events_once() == []
    assert published[-1] == expected[5:]
    assert not OrderEvent.objects.filter(pk__in=expected, relayed_at__isnull=True).exists()


@pytest.mark.django_db
@relay_on
def test_a_broker_failure_leaves_the_events_to_the_sweeper(
    order, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broker_down(ids):
        raise ConnectionError("broker down")

    monkeypatch.setattr(lifecycle_tasks.dispatch_order_events, "delay", broker_down)
    ids = events(order, 2)
    with django_capture_on_commit_callbacks(execute=True):
        assert event_relay.relay_order_events_once() == ids  # no exception for the relay
    assert "publishing 2 order events failed" in caplog.text
    assert set(ids) <= set(undispatched_event_ids(older_than=timezone.timedelta(0)))


@pytest.mark.django_db
def test_the_command_refuses_to_run_beside_publishing_on_commit():
    with pytest.raises(CommandError, match="ORDER_EVENTS_RELAY is off"):
        call_command("relay_order_events", "--once")


@pytest.mark.django_db
@relay_on
def test_the_command_runs_one_round(order, published, django_capture_on_commit_callbacks):
    ids = events(order, 3)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("relay_order_events", "--once", stdout=out)
    assert "relayed 3 order events" in out.getvalue()
    assert published == [ids]


@pytest.mark.django_db(transaction=True)
@relay_on
def test_two_relays_at_once_hand_each_event_over_exactly_once(order, published):
    ids = events(order, 300)

    def relay() -> list[int]:
        claimed: list[int] = []
        while batch := event_relay.relay_order_events_once(limit=40, chunk=40):
            claimed += batch
        return claimed

    first, second = run_together(relay, relay)
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == ids
    assert sorted(i for batch in published for i in batch) == ids


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_relay_process_and_the_worker_deliver_the_webhook(
    celery_worker, order, seller_a, receiver
):
    from django.conf import settings
    from django.db import connection

    make_endpoint(seller_a, receiver.url, ["order.accepted"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CLEARHOUSE_TEST_NAMESPACE": settings.TEST_NAMESPACE,  # the worker's queue
        "ORDER_EVENTS_RELAY": "true",
    }
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "relay_order_events", "--interval", "0.05"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with relay_on, transaction.atomic():
            event = record_order_event(
                order=order,
                sub_order=sub_order_of(order, seller_a),
                kind="order.accepted",
                actor=f"seller:{seller_a.pk}",
            )
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not receiver.requests:
            assert relay.poll() is None, relay.stderr.read().decode()
            time.sleep(0.1)
        assert receiver.requests, f"no webhook arrived:\n{celery_worker.log_tail()}"
        event.refresh_from_db()
        assert event.relayed_at is not None
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=20) == 0  # stops cleanly after the round at hand
