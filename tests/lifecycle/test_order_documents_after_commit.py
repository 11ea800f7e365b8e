"""Order documents are made and sealed after the payment commits, by the payment's one dispatch
task (its order.paid events' dispatch seals first), never lost: the documents sweeper re-drives a
lost task, and every reader makes the document on demand.

These tests pay through payment_start directly (not the pay_by_* helpers, which run the task)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_key_create
from core import crypto
from payments.dispatch import tasks as lifecycle_tasks
from payments.dispatch.tasks import dispatch_order_event, dispatch_order_events
from payments.flows.start import payment_start
from payments.fulfilment import documents as order_documents
from payments.fulfilment import tasks as fulfilment_tasks
from payments.fulfilment.acceptance import sub_order_accept
from payments.fulfilment.documents import (
    document_associated_data,
    order_document_ensure,
    order_documents_make_missing,
)
from payments.fulfilment.models import SealedOrderDocument
from payments.fulfilment.rejection import sub_order_reject
from payments.fulfilment.tasks import order_documents_sweep, seal_order_documents
from payments.models import SubOrder
from payments.orders import events as order_events
from payments.orders.models import OrderEvent
from tests.concurrency import run_together
from tests.lifecycle.accept_fixtures import (
    PASSWORD,
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    place_order,
    sub_order_of,
)
from tests.lifecycle.lifecycle_fixtures import card

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """The order ids of the sealing tasks published (the broker is not needed to see them)."""
    ids: list[str] = []
    monkeypatch.setattr(fulfilment_tasks.seal_order_documents, "delay", ids.append)
    return ids


def pay(order, buyer) -> None:
    """Pay by card the way checkout does, WITHOUT running the sealing task."""
    payment = payment_start(order=order, method="card", card=card(), actor=f"buyer:{buyer.pk}")
    assert payment.payment.status == "authorized"


def two_seller_order(key_pool, *, encryption: bool = True):
    first, second = make_seller(key_pool, dashboard=False), make_seller(key_pool, dashboard=False)
    keys = {s.pk: own_keys(key_pool, s, encryption=encryption) for s in (first, second)}
    buyer = make_buyer()
    order = place_order(
        buyer, [(make_product(first, price=1500), 1), (make_product(second, price=2500), 2)]
    )
    return order, buyer, (first, second), keys


def sealed_events(order) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(order=order, kind="order.sealed").order_by("pk"))


def test_paying_leaves_sealing_to_the_dispatch_of_its_order_paid_events(
    key_pool, published, monkeypatch, django_capture_on_commit_callbacks
):
    dispatched: list[list[int]] = []
    monkeypatch.setattr(order_events, "_enqueue_dispatch", dispatched.append)
    order, buyer, sellers, _keys = two_seller_order(key_pool)
    with django_capture_on_commit_callbacks(execute=True):
        pay(order, buyer)
        # Inside the payment's transaction: the acceptance window and order.paid, no document.
        assert not SealedOrderDocument.objects.filter(sub_order__order=order).exists()
    assert published == []  # no sealing task of its own: one task per payment
    [event_ids] = dispatched
    for seller in sellers:
        sub_order = sub_order_of(order, seller)
        assert sub_order.accept_by is not None
        kinds = OrderEvent.objects.filter(sub_order=sub_order).values_list("kind", flat=True)
        assert list(kinds) == ["order.paid"]

    # The dispatch seals both documents before the events fan out.
    fanned_out: list[tuple[str, int]] = []
    real_dispatch = lifecycle_tasks._dispatch

    def dispatch(event) -> None:
        made = SealedOrderDocument.objects.filter(sub_order__order=order).count()
        fanned_out.append((event.kind, made))
        real_dispatch(event)

    monkeypatch.setattr(lifecycle_tasks, "_dispatch", dispatch)
    assert dispatch_order_events(event_ids) == 3
    assert fanned_out == [("payment.authorized", 2), ("order.paid", 2), ("order.paid", 2)]
    assert len(sealed_events(order)) == 2
    assert dispatch_order_events(event_ids) == 0  # a redelivered message: nothing more


def test_a_sealing_failure_still_dispatches_and_the_retry_seals(
    key_pool, published, monkeypatch, django_capture_on_commit_callbacks
):
    dispatched: list[list[int]] = []
    monkeypatch.setattr(order_events, "_enqueue_dispatch", dispatched.append)
    order, buyer, _sellers, _keys = two_seller_order(key_pool)
    with django_capture_on_commit_callbacks(execute=True):
        pay(order, buyer)
    [event_ids] = dispatched

    def broken(**kwargs):
        raise RuntimeError("sealing broke")

    monkeypatch.setattr(order_documents, "order_documents_make", broken)
    with pytest.raises(RuntimeError):
        dispatch_order_events(event_ids)  # the task is retried (autoretry)
    assert not OrderEvent.objects.filter(pk__in=event_ids, dispatched_at__isnull=True).exists()
    monkeypatch.undo()
    assert dispatch_order_events(event_ids) == 0  # the retry: all dispatched, and now sealed
    assert SealedOrderDocument.objects.filter(sub_order__order=order).count() == 2


def test_the_sweepers_re_dispatch_of_order_paid_seals(key_pool, published):
    order, buyer, _sellers, _keys = two_seller_order(key_pool)
    pay(order, buyer)  # the dispatch message is lost
    for event in OrderEvent.objects.filter(order=order, kind="order.paid"):
        dispatch_order_event(event.pk)
    assert SealedOrderDocument.objects.filter(sub_order__order=order).count() == 2
    assert len(sealed_events(order)) == 2


def test_the_task_makes_and_seals_each_sellers_document(key_pool, published):
    order, buyer, sellers, keys = two_seller_order(key_pool)
    pay(order, buyer)
    assert seal_order_documents(str(order.pk)) == 2
    for seller in sellers:
        sub_order = sub_order_of(order, seller)
        document = SealedOrderDocument.objects.get(sub_order=sub_order)
        assert document.seller_key == keys[seller.pk].encryption
        opened = crypto.open_sealed(
            keys[seller.pk].encryption_private,
            bytes(document.sealed),
            associated_data=document_associated_data(sub_order.pk),
        )
        assert opened == document.document_bytes
        facts = json.loads(opened)
        assert facts["sub_order_id"] == sub_order.pk
        assert facts["payment"]["card"] == {"brand": "visa", "last4": "4242"}
        kinds = OrderEvent.objects.filter(sub_order=sub_order).values_list("kind", flat=True)
        assert list(kinds) == ["order.paid", "order.sealed"]


def test_a_replayed_task_changes_nothing(key_pool, published):
    order, buyer, _sellers, _keys = two_seller_order(key_pool)
    pay(order, buyer)
    seal_order_documents(str(order.pk))
    before = {
        d.sub_order_id: (d.sha256, bytes(d.sealed), d.sealed_at)
        for d in SealedOrderDocument.objects.filter(sub_order__order=order)
    }
    events = OrderEvent.objects.count()
    assert seal_order_documents(str(order.pk)) == 0  # acks_late: a redelivered message
    after = {
        d.sub_order_id: (d.sha256, bytes(d.sealed), d.sealed_at)
        for d in SealedOrderDocument.objects.filter(sub_order__order=order)
    }
    assert after == before and OrderEvent.objects.count() == events


def test_the_task_of_an_unpaid_order_makes_nothing(key_pool):
    seller = make_seller(key_pool)
    order = place_order(make_buyer(), [(make_product(seller, price=700), 1)])
    assert seal_order_documents(str(order.pk)) == 0
    assert not SealedOrderDocument.objects.exists()


def test_the_sweeper_makes_what_a_lost_task_left(key_pool, published):
    order, buyer, _sellers, _keys = two_seller_order(key_pool)
    pay(order, buyer)  # the task's message is lost: nothing runs it
    # Fresh payments are left to their task for a minute.
    assert order_documents_make_missing() == 0
    SubOrder.objects.filter(order=order).update(updated_at=timezone.now() - timedelta(minutes=2))
    assert order_documents_make_missing(limit=1) == 1  # bounded
    assert order_documents_sweep() == {"made": 1, "sealed": 0}
    assert SealedOrderDocument.objects.filter(sub_order__order=order).count() == 2
    assert len(sealed_events(order)) == 2
    assert order_documents_sweep() == {"made": 0, "sealed": 0}


def test_the_sweeper_leaves_decided_and_unpaid_sub_orders_alone(key_pool, published):
    seller = make_seller(key_pool)
    unpaid = place_order(make_buyer(), [(make_product(seller, price=700), 1)])
    SubOrder.objects.filter(order=unpaid).update(updated_at=timezone.now() - timedelta(hours=1))
    assert order_documents_make_missing() == 0
    assert not SealedOrderDocument.objects.filter(sub_order__order=unpaid).exists()


def test_the_documents_sweep_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["payments-order-documents-sweep"]
    assert entry["task"] == "payments.order_documents_sweep"
    from config.celery import app

    assert {"payments.order_documents_sweep", "payments.seal_order_documents"} <= set(app.tasks)


def test_ensure_makes_the_document_on_demand_and_only_for_a_paid_sub_order(key_pool, published):
    order, buyer, (first, _second), keys = two_seller_order(key_pool)
    sub_order = sub_order_of(order, first)
    assert order_document_ensure(sub_order) is None  # not paid: no document
    pay(order, buyer)
    sub_order.refresh_from_db()
    document = order_document_ensure(sub_order)
    assert document.seller_key == keys[first.pk].encryption and document.sealed is not None
    assert order_document_ensure(sub_order).pk == document.pk  # once
    assert SealedOrderDocument.objects.filter(sub_order__order=order).count() == 1
    assert len(sealed_events(order)) == 1
    # The task made the other seller's only.
    assert seal_order_documents(str(order.pk)) == 1
    assert len(sealed_events(order)) == 2


def test_a_seller_accepts_through_the_api_before_the_task_ran(key_pool, published):
    seller = make_seller(key_pool, dashboard=False)
    keys = own_keys(key_pool, seller, encryption=True)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=2100), 1)])
    pay(order, buyer)
    sub_order = sub_order_of(order, seller)
    _, api_key = api_key_create(owner=seller, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")

    listing = client.get("/api/v1/seller/orders").json()
    assert listing["results"][0]["document"]["sealed"]
    detail = client.get(f"/api/v1/seller/orders/{sub_order.pk}").json()
    sealed = base64.b64decode(detail["document"]["sealed"])
    document_bytes = crypto.open_sealed(
        keys.encryption_private,
        sealed,
        associated_data=detail["document"]["associated_data"].encode(),
    )
    assert crypto.sha256(document_bytes).hex() == detail["document"]["sha256"]
    signature = crypto.sign(keys.signing_private, document_bytes, algorithm="ed25519")
    response = client.post(
        f"/api/v1/seller/orders/{sub_order.pk}/accept",
        json.dumps(
            {"key_id": str(keys.signing.id), "signature": base64.b64encode(signature).decode()}
        ),
        content_type="application/json",
        headers={"Idempotency-Key": "accept-1"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "accepted"
    assert SealedOrderDocument.objects.filter(sub_order=sub_order).count() == 1


def test_a_seller_accepts_on_the_dashboard_before_the_task_ran(key_pool, published):
    seller = make_seller(key_pool)  # dashboard keys: the document is sealed to them
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=1234), 1)])
    pay(order, buyer)
    sub_order = sub_order_of(order, seller)
    client = Client()
    client.force_login(seller)

    page = client.get(reverse("payments:seller_order", args=[sub_order.pk])).content.decode()
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert document.sha256 in page and "No document yet" not in page
    opened = client.post(
        reverse("payments:seller_order_document", args=[sub_order.pk]), {"password": PASSWORD}
    )
    assert opened.status_code == 200 and opened.context["opened"] == document.canonical_document
    response = client.post(
        reverse("payments:seller_order_accept", args=[sub_order.pk]),
        {"accept-password": PASSWORD},
    )
    assert response.status_code == 302
    sub_order.refresh_from_db()
    assert sub_order.status == "accepted"
    signature = base64.b64decode(sub_order.acceptance_signature)
    crypto.verify(
        sub_order.acceptance_key.public_pem, document.document_bytes, signature, algorithm="ed25519"
    )


def test_the_document_view_makes_it_when_opened_first(key_pool, published):
    seller = make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=999), 1)])
    pay(order, buyer)
    sub_order = sub_order_of(order, seller)
    client = Client()
    client.force_login(seller)
    page = client.get(reverse("payments:seller_order_document", args=[sub_order.pk]))
    assert page.status_code == 200
    assert SealedOrderDocument.objects.get(sub_order=sub_order).sha256 in page.content.decode()


def test_services_verify_and_reject_against_a_document_made_on_demand(key_pool, published):
    order, buyer, (first, second), keys = two_seller_order(key_pool)
    pay(order, buyer)
    # Accept: the signature is over the document the service makes before verifying.
    first_sub = sub_order_of(order, first)
    document = order_document_ensure(first_sub)
    signature = crypto.sign(
        keys[first.pk].signing_private, document.document_bytes, algorithm="ed25519"
    )
    accepted = sub_order_accept(
        sub_order_id=first_sub.pk,
        seller=first,
        key_id=str(keys[first.pk].signing.id),
        signature_b64=base64.b64encode(signature).decode(),
        actor="seller",
    )
    assert accepted.status == "accepted"
    # Reject: the second seller never opened its document; rejecting still finds (makes) it.
    rejected = sub_order_reject(
        sub_order_id=sub_order_of(order, second).pk, seller=second, reason="No stock", actor="s"
    )
    assert rejected.status == "rejected"
    assert SealedOrderDocument.objects.filter(sub_order__order=order).count() == 2
    assert seal_order_documents(str(order.pk)) == 0  # the late task finds both made


def test_a_broker_outage_does_not_fail_the_payment(
    key_pool, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(fulfilment_tasks.seal_order_documents, "delay", broker_down)
    monkeypatch.setattr(lifecycle_tasks.dispatch_order_events, "delay", broker_down)
    order, buyer, _sellers, _keys = two_seller_order(key_pool)
    with django_capture_on_commit_callbacks(execute=True):
        pay(order, buyer)  # the robust on-commit hook logs the error; the payment stands
    order.refresh_from_db()
    assert order.status == "paid"
    SubOrder.objects.filter(order=order).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert order_documents_sweep()["made"] == 2


@pytest.mark.django_db(transaction=True)
def test_seal_after_commit_outside_a_transaction_publishes_at_once(published):
    order_documents.seal_after_commit(order_id="0c6f1e5e-9a2b-4c3d-8e7f-001122334455")
    assert published == ["0c6f1e5e-9a2b-4c3d-8e7f-001122334455"]
    with transaction.atomic():
        order_documents.seal_after_commit(order_id="0c6f1e5e-9a2b-4c3d-8e7f-001122334456")
        assert len(published) == 1
    assert published[-1] == "0c6f1e5e-9a2b-4c3d-8e7f-001122334456"
    try:
        with transaction.atomic():
            order_documents.seal_after_commit(order_id="0c6f1e5e-9a2b-4c3d-8e7f-001122334457")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert len(published) == 2  # a rolled-back payment publishes nothing


@pytest.mark.django_db(transaction=True)
def test_the_task_and_a_reader_at_once_make_one_document(key_pool, published):
    seller = make_seller(key_pool)
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=500), 1)])
    pay(order, buyer)
    sub_order = SubOrder.objects.select_related("order").get(order=order)

    results = run_together(
        lambda: seal_order_documents(str(order.pk)),
        lambda: order_document_ensure(
            SubOrder.objects.select_related("order").get(pk=sub_order.pk)
        ),
        lambda: seal_order_documents(str(order.pk)),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert SealedOrderDocument.objects.filter(sub_order=sub_order).count() == 1
    assert len(sealed_events(order)) == 1
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    assert results[1].pk == document.pk
