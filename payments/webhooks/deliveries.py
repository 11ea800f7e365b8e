"""Outgoing webhooks' deliveries: fan-out of order events, attempts, resend, the sweeper's half.
(Endpoints: payments/webhooks/endpoints.py; secrets and signing: payments/webhooks/signing.py.)

    webhook_dispatch_event(event)          one WebhookDelivery per subscribed live endpoint
    webhook_dispatch_seller_event(seller_id=, kind=, topic=, payload=, occurred_at=)
                                           the same for a seller-level event (a payout's outcome)
    webhook_attempt_delivery(delivery_id)  one signed POST (Standard Webhooks), then the next step
    webhook_delivery_resend(delivery=, actor=)  a new attempt cycle, same message id

Signing follows Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`
(the delivery id, stable across retries), `webhook-timestamp` (unix seconds, fresh at each
attempt) and `webhook-signature: v1,<base64 HMAC-SHA256(secret, "id.timestamp.body")>`.
Retries follow a Svix-like schedule for at most RETRY_WINDOW, then the delivery fails for good.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.canonical import canonical_json
from core.errors import Conflict, NotFound
from payments.orders.event_data import event_data_for
from payments.orders.events import SELLER_EVENT_TYPES
from payments.orders.models import OrderEvent
from payments.webhooks.http import post_json
from payments.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from payments.webhooks.signing import WebhookSecretUnreadable, sign, signing_secrets

logger = logging.getLogger(__name__)
# Delay after the n-th failed attempt of a cycle (Svix's schedule); the last one repeats.
RETRY_SCHEDULE: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
)
# No attempt is made later than this after a cycle started: then the delivery has failed.
RETRY_WINDOW = dt.timedelta(days=3)
# While an attempt is in flight its delivery is leased (next_attempt_at in the future) so that a
# duplicate task message or the sweeper does not send it twice; longer than the HTTP timeout.
LEASE = dt.timedelta(seconds=60)


def _json_safe(value: Any) -> Any:
    """What canonical JSON accepts: floats (never money here) become strings."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
        return str(value)
    return value


def event_payload(event: OrderEvent, *, seller_id: int | None = None) -> dict[str, Any]:
    """The webhook body (Standard Webhooks shape: type, timestamp, data)."""
    order = event.order
    data = {
        **event_data_for(event, seller_id=seller_id),
        "event_id": event.pk,
        "order_id": str(order.pk),
        "order_number": order.number,
        "sub_order_id": event.sub_order_id,
    }
    return _json_safe(
        {
            "type": event.kind,
            "timestamp": event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        }
    )


def sellers_concerned(event: OrderEvent) -> list[int]:
    if event.sub_order_id is not None:
        return [event.sub_order.seller_id]
    return sorted(set(event.order.sub_orders.values_list("seller_id", flat=True)))


def _enqueue(delivery_id: str, *, countdown: float | None = None) -> None:
    # tasks.py imports this module: the task is looked up when it is enqueued.
    from payments.webhooks.tasks import deliver_webhook

    if countdown:
        deliver_webhook.apply_async((delivery_id,), countdown=countdown)
    else:
        deliver_webhook.delay(delivery_id)


def webhook_dispatch_event(event: OrderEvent) -> list[WebhookDelivery]:
    """One delivery per live endpoint, subscribed to the event's type, of each seller concerned.

    Idempotent: (endpoint, event) is unique, so running it again creates nothing new. Each new
    delivery is enqueued after commit; one whose message is lost is re-driven by the sweeper."""
    created: list[WebhookDelivery] = []
    sellers = sellers_concerned(event)
    endpoints = WebhookEndpoint.objects.filter(
        seller_id__in=sellers, is_active=True, deleted_at__isnull=True
    ).order_by("created_at", "id")
    # One read for the endpoints already served by an earlier run of this dispatch.
    done = set(WebhookDelivery.objects.filter(event=event).values_list("endpoint_id", flat=True))
    now = timezone.now()
    for endpoint in endpoints:
        if not endpoint.subscribes_to(event.kind) or endpoint.pk in done:
            continue
        payload = event_payload(event, seller_id=endpoint.seller_id)
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event=event,
                    event_type=event.kind,
                    payload=payload,
                    cycle_started_at=now,
                    next_attempt_at=now,
                )
        except IntegrityError:  # a concurrent dispatch made it first
            continue
        created.append(delivery)
        # robust: a broker hiccup is logged, not raised; the sweeper enqueues it later.
        transaction.on_commit(lambda delivery_id=delivery.pk: _enqueue(delivery_id), robust=True)
    return created


def webhook_dispatch_seller_event(
    *,
    seller_id: int,
    kind: str,
    topic: str,
    payload: dict[str, Any],
    occurred_at: dt.datetime,
) -> list[WebhookDelivery]:
    """One delivery per live endpoint of the seller subscribed to `kind` (SELLER_EVENT_TYPES),
    about `topic` (the raiser's stable name for the event, e.g. "payout:<id>:paid"), carrying
    `payload` as the body's data. Sent, signed, retried and swept as order events' deliveries are.

    Idempotent: (endpoint, topic) is unique, so running it again creates nothing new."""
    if kind not in SELLER_EVENT_TYPES:
        raise ValueError(f"unknown seller event type {kind!r}")
    if not topic or len(topic) > 80:
        raise ValueError("a seller event needs a topic of 1 to 80 characters")
    body = _json_safe(
        {
            "type": kind,
            "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "data": payload,
        }
    )
    endpoints = WebhookEndpoint.objects.filter(
        seller_id=seller_id, is_active=True, deleted_at__isnull=True
    ).order_by("created_at", "id")
    done = set(WebhookDelivery.objects.filter(topic=topic).values_list("endpoint_id", flat=True))
    created: list[WebhookDelivery] = []
    now = timezone.now()
    for endpoint in endpoints:
        if not endpoint.subscribes_to(kind) or endpoint.pk in done:
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    topic=topic,
                    event_type=kind,
                    payload=body,
                    cycle_started_at=now,
                    next_attempt_at=now,
                )
        except IntegrityError:  # a concurrent dispatch made it first
            continue
        created.append(delivery)
        transaction.on_commit(lambda delivery_id=delivery.pk: _enqueue(delivery_id), robust=True)
    return created


@dataclass(frozen=True)
class AttemptOutcome:
    status: str  # "skipped" | "succeeded" | "retry" | "failed"
    retry_in: dt.timedelta | None = None


def retry_delay(cycle_attempts: int) -> dt.timedelta:
    """The wait after the `cycle_attempts`-th failed attempt of a cycle."""
    return RETRY_SCHEDULE[min(max(cycle_attempts, 1), len(RETRY_SCHEDULE)) - 1]


def _claim(delivery_id: str, now: dt.datetime) -> bool:
    """Lease a due pending delivery for one attempt; False if it is not due or someone has it."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now + dt.timedelta(seconds=1),
        ).update(next_attempt_at=now + LEASE)
    )


@sensitive_variables("secrets_now", "signature")
def webhook_attempt_delivery(delivery_id: str) -> AttemptOutcome:
    """Make one attempt at a due delivery and record it; the caller schedules `retry_in`."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return AttemptOutcome("skipped")
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    body = canonical_json(delivery.payload)
    timestamp = int(now.timestamp())
    try:
        secrets_now = signing_secrets(endpoint, now=now) if endpoint.is_live else []
    except WebhookSecretUnreadable:
        secrets_now = []  # logged there; retried on the usual schedule (a key may come back)
    if not endpoint.is_live:
        result_code, latency, error = None, None, "endpoint disabled"
        sent_ok, give_up = False, True
    elif not secrets_now:
        result_code, latency, error = None, None, "signing secret unreadable"
        sent_ok, give_up = False, False
    else:
        signature = " ".join(
            sign(secret=secret, msg_id=delivery.pk, timestamp=timestamp, body=body)
            for secret in secrets_now
        )
        result = post_json(
            endpoint.url,
            body=body,
            headers={
                "webhook-id": delivery.pk,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature,
            },
        )
        result_code, latency, error = result.response_code, result.latency_ms, result.error
        sent_ok, give_up = result.ok, False
    return _record_attempt(
        delivery_id,
        attempted_at=now,
        response_code=result_code,
        latency_ms=latency,
        error=error,
        succeeded=sent_ok,
        give_up=give_up,
    )


def _record_attempt(
    delivery_id: str,
    *,
    attempted_at: dt.datetime,
    response_code: int | None,
    latency_ms: int | None,
    error: str,
    succeeded: bool,
    give_up: bool,
) -> AttemptOutcome:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.cycle_attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            attempted_at=attempted_at,
            response_code=response_code,
            latency_ms=latency_ms,
            succeeded=succeeded,
            error=error[:255],
        )
        delivery.last_attempt_at = attempted_at
        delivery.last_response_code = response_code
        delivery.last_latency_ms = latency_ms
        delivery.last_error = error[:255]
        retry_in = None
        if delivery.status != DeliveryStatus.PENDING and not succeeded:
            pass  # made final meanwhile (endpoint deleted): the attempt is only logged
        elif succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.next_attempt_at = None
        else:
            retry_in = retry_delay(delivery.cycle_attempts)
            next_at = timezone.now() + retry_in
            if give_up or next_at > delivery.cycle_started_at + RETRY_WINDOW:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
                retry_in = None
            else:
                delivery.next_attempt_at = next_at
        delivery.save()
    logger.info(
        "webhooks: delivery %s attempt %d -> %s (code %s, %s ms)%s",
        delivery.pk,
        delivery.attempts,
        delivery.status,
        response_code,
        latency_ms,
        f": {error}" if error else "",
    )
    if delivery.status == DeliveryStatus.PENDING:
        return AttemptOutcome("retry", retry_in)
    return AttemptOutcome(delivery.status)


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: str) -> WebhookDelivery:
    """Send the same message (same id and body) again in a new attempt cycle, now."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=delivery.pk)
        )
        if not delivery.endpoint.is_live:
            raise Conflict(
                "Enable the endpoint before resending to it.", code="webhook_endpoint_disabled"
            )
        now = timezone.now()
        delivery.status = DeliveryStatus.PENDING
        delivery.cycle_attempts = 0
        delivery.cycle_started_at = now
        delivery.next_attempt_at = now
        delivery.save(
            update_fields=[
                "status",
                "cycle_attempts",
                "cycle_started_at",
                "next_attempt_at",
                "updated_at",
            ]
        )
        transaction.on_commit(lambda: _enqueue(delivery.pk), robust=True)
    logger.info("webhooks: delivery %s resent by %s", delivery.pk, actor)
    return delivery


def deliveries_of(endpoint: WebhookEndpoint):
    # No join to the event: a delivery carries its own event_type and payload.
    return WebhookDelivery.objects.filter(endpoint=endpoint)


def webhook_delivery_get(*, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = deliveries_of(endpoint).filter(pk=str(delivery_id)[:40]).first()
    if delivery is None:
        raise NotFound("No such delivery.", code="webhook_delivery_not_found")
    return delivery


def due_delivery_ids(*, limit: int = 500) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhook_enqueue_due(*, limit: int = 500) -> list[str]:
    """Enqueue every pending delivery whose next attempt is due (the sweeper's half for webhooks);
    returns their ids."""
    delivery_ids = due_delivery_ids(limit=limit)
    for delivery_id in delivery_ids:
        _enqueue(delivery_id)
    return delivery_ids
