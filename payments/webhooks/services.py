"""Outgoing webhooks: endpoints and their secrets, fan-out of order events, attempts, resend.

    webhook_endpoint_create(seller=, url=, description=, event_types=) -> (endpoint, secret)
    webhook_endpoint_update / _roll_secret / _set_active / _delete
    webhook_dispatch_event(event)          one WebhookDelivery per subscribed live endpoint
    webhook_attempt_delivery(delivery_id)  one signed POST (Standard Webhooks), then the next step
    webhook_delivery_resend(delivery=, actor=)  a new attempt cycle, same message id

Signing follows Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`
(the delivery id, stable across retries), `webhook-timestamp` (unix seconds, fresh at each
attempt) and `webhook-signature: v1,<base64 HMAC-SHA256(secret, "id.timestamp.body")>`.
Retries follow a Svix-like schedule for at most RETRY_WINDOW, then the delivery fails for good.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import Webhook

from core import crypto
from core.canonical import canonical_json
from core.errors import ApplicationError, Conflict, NotFound, ValidationError
from payments.orders.events import EVENT_TYPES
from payments.orders.models import OrderEvent
from payments.webhooks.http import post_json, validate_webhook_url
from payments.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32
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
MAX_ENDPOINTS_PER_SELLER = 20
# After a roll, the previous secret signs alongside the new one for this long.
ROLL_GRACE = dt.timedelta(hours=24)


class WebhookSecretUnreadable(ApplicationError):
    """The endpoint's signing secret could not be decrypted."""

    code = "webhook_secret_unreadable"
    http_status = 500


# --- secrets ------------------------------------------------------------------------------------


def _associated_data(endpoint_id: uuid.UUID) -> bytes:
    return b"clearhouse/webhooks/endpoint/" + str(endpoint_id).encode()


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@sensitive_variables("secret")
def _seal_secret(endpoint: WebhookEndpoint, secret: str) -> None:
    (
        endpoint.secret_key_id,
        endpoint.secret_wrapped_key,
        endpoint.secret_ciphertext,
    ) = crypto.envelope_encrypt(secret.encode(), associated_data=_associated_data(endpoint.id))


def _open_secret(endpoint: WebhookEndpoint, key_id: str, wrapped: bytes, ciphertext: bytes) -> str:
    try:
        return crypto.envelope_decrypt(
            key_id,
            bytes(wrapped),
            bytes(ciphertext),
            associated_data=_associated_data(endpoint.id),
        ).decode()
    except crypto.CryptoError as exc:
        logger.error("webhooks: secret of endpoint %s unreadable: %s", endpoint.id, type(exc))
        raise WebhookSecretUnreadable() from exc


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's "whsec_..." secret, for signing. Never log or show it (except once)."""
    return _open_secret(
        endpoint,
        endpoint.secret_key_id,
        endpoint.secret_wrapped_key,
        endpoint.secret_ciphertext,
    )


def signing_secrets(endpoint: WebhookEndpoint, *, now: dt.datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its grace time."""
    secrets_now = [endpoint_secret(endpoint)]
    expires = endpoint.previous_secret_expires_at
    if expires is not None and expires > (now or timezone.now()):
        secrets_now.append(
            _open_secret(
                endpoint,
                endpoint.previous_secret_key_id,
                endpoint.previous_secret_wrapped_key,
                endpoint.previous_secret_ciphertext,
            )
        )
    return secrets_now


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `webhook-signature` value ("v1,<base64>") for one attempt."""
    when = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body.decode())


@dataclass
class SecretRotationReport:
    newest_key_id: str
    rotated: int = 0
    failed: int = 0


def webhook_rotate_keys() -> SecretRotationReport:
    """Re-wrap every endpoint secret's data key under the newest master key (the secrets and
    their ciphertext stay the same). One short transaction per endpoint; safe while running."""
    newest = crypto.get_key_ring().newest_id
    report = SecretRotationReport(newest_key_id=newest)
    stale = WebhookEndpoint.objects.filter(
        ~Q(secret_key_id=newest)
        | (~Q(previous_secret_key_id="") & ~Q(previous_secret_key_id=newest))
    ).values_list("pk", flat=True)
    for endpoint_id in list(stale):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
            if endpoint.secret_key_id == newest and endpoint.previous_secret_key_id in ("", newest):
                continue
            associated_data = _associated_data(endpoint.id)
            try:
                endpoint.secret_key_id, endpoint.secret_wrapped_key = crypto.rewrap_data_key(
                    endpoint.secret_key_id,
                    bytes(endpoint.secret_wrapped_key),
                    associated_data=associated_data,
                )
                if endpoint.previous_secret_wrapped_key:
                    # Still within (or past) its grace time: re-wrapped too, or it would
                    # become unreadable when the old master key leaves the ring.
                    (
                        endpoint.previous_secret_key_id,
                        endpoint.previous_secret_wrapped_key,
                    ) = crypto.rewrap_data_key(
                        endpoint.previous_secret_key_id,
                        bytes(endpoint.previous_secret_wrapped_key),
                        associated_data=associated_data,
                    )
            except crypto.CryptoError as exc:
                report.failed += 1
                logger.error("webhooks: cannot re-wrap endpoint %s: %s", endpoint_id, type(exc))
                continue
            endpoint.save(
                update_fields=[
                    "secret_key_id",
                    "secret_wrapped_key",
                    "previous_secret_key_id",
                    "previous_secret_wrapped_key",
                ]
            )
            report.rotated += 1
    return report


# --- endpoints ----------------------------------------------------------------------------------


def clean_event_types(event_types: Any) -> list[str]:
    """A sorted list of known event types; [] (all) for None, [] or ["*"]."""
    if event_types in (None, "", ALL_EVENTS):
        return []
    if not isinstance(event_types, list | tuple) or not all(
        isinstance(name, str) for name in event_types
    ):
        raise ValidationError("Give the event types as a list of names.", field="event_types")
    if ALL_EVENTS in event_types:
        return []
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(f"Unknown event type: {unknown[0]}.", field="event_types")
    return sorted(set(event_types))


def _clean_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > 200:
        raise ValidationError(
            "The description is text of at most 200 characters.", field="description"
        )
    return description.strip()


def endpoints_visible_to(user: Any):
    endpoints = WebhookEndpoint.objects.filter(deleted_at__isnull=True).select_related("seller")
    if getattr(user, "is_platform_staff", False):
        return endpoints
    return endpoints.filter(seller_id=user.pk)


def webhook_endpoint_get(*, user: Any, endpoint_id: Any) -> WebhookEndpoint:
    """The endpoint if `user` owns it (staff: any); NotFound otherwise (ids are not probed)."""
    try:
        endpoint_uuid = uuid.UUID(str(endpoint_id))
    except ValueError:
        endpoint = None
    else:
        endpoint = endpoints_visible_to(user).filter(pk=endpoint_uuid).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.", code="webhook_endpoint_not_found")
    return endpoint


@sensitive_variables("secret")
def webhook_endpoint_create(
    *, seller: Any, url: str, description: str = "", event_types: Any = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown to the seller this once)."""
    if not getattr(seller, "is_seller", False):
        raise ValidationError("Only sellers register webhook endpoints.")
    url = validate_webhook_url(url)
    types = clean_event_types(event_types)
    description = _clean_description(description)
    if (
        WebhookEndpoint.objects.filter(seller=seller, deleted_at__isnull=True).count()
        >= MAX_ENDPOINTS_PER_SELLER
    ):
        raise Conflict(
            f"A seller may have at most {MAX_ENDPOINTS_PER_SELLER} webhook endpoints.",
            code="too_many_webhook_endpoints",
        )
    endpoint = WebhookEndpoint(seller=seller, url=url, description=description, event_types=types)
    secret = new_secret()
    _seal_secret(endpoint, secret)
    endpoint.save()
    logger.info("webhooks: seller %s registered endpoint %s", seller.pk, endpoint.id)
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Any = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (None = unchanged); bad input changes nothing."""
    fields = []
    if url is not None:
        endpoint.url = validate_webhook_url(url)
        fields.append("url")
    if description is not None:
        endpoint.description = _clean_description(description)
        fields.append("description")
    if event_types is not None:
        endpoint.event_types = clean_event_types(event_types)
        fields.append("event_types")
    if is_active is not None:
        if not isinstance(is_active, bool):
            raise ValidationError("is_active is true or false.", field="is_active")
        endpoint.is_active = is_active
        fields.append("is_active")
    if fields:
        endpoint.save(update_fields=[*fields, "updated_at"])
    return endpoint


@sensitive_variables("secret")
def webhook_endpoint_roll_secret(*, endpoint: WebhookEndpoint, expire_old_now: bool = False) -> str:
    """A new secret signs every later attempt. The old one keeps signing too (a second signature)
    for ROLL_GRACE, so receivers can switch without losing messages, unless `expire_old_now`
    (the old secret leaked): then it stops at once."""
    secret = new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if expire_old_now:
            endpoint.previous_secret_key_id = ""
            endpoint.previous_secret_wrapped_key = None
            endpoint.previous_secret_ciphertext = None
            endpoint.previous_secret_expires_at = None
        else:
            endpoint.previous_secret_key_id = endpoint.secret_key_id
            endpoint.previous_secret_wrapped_key = endpoint.secret_wrapped_key
            endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
            endpoint.previous_secret_expires_at = timezone.now() + ROLL_GRACE
        _seal_secret(endpoint, secret)
        endpoint.save(
            update_fields=[
                "secret_key_id",
                "secret_wrapped_key",
                "secret_ciphertext",
                "previous_secret_key_id",
                "previous_secret_wrapped_key",
                "previous_secret_ciphertext",
                "previous_secret_expires_at",
                "updated_at",
            ]
        )
    logger.info(
        "webhooks: endpoint %s secret rolled (old one %s)",
        endpoint.id,
        "expired now" if expire_old_now else f"valid until {endpoint.previous_secret_expires_at}",
    )
    return secret


def webhook_endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    return webhook_endpoint_update(endpoint=endpoint, is_active=active)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Soft delete: nothing more is sent to it; its delivery log stays."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), is_active=False
        )
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="endpoint deleted"
        )


# --- payloads and fan-out -----------------------------------------------------------------------


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


def event_data_for(event: OrderEvent, *, seller_id: int | None = None) -> dict[str, Any]:
    """The event's public data as `seller_id` may see it (None: buyer or staff, all of it).

    An order-level event (payment.*) lists every sub-order; a seller sees only its own and, as
    `amount_minor`, its own share (as the orders API shows a seller only its part)."""
    data = dict(event.data or {})
    if seller_id is not None and event.sub_order_id is None:
        parts = data.get("sub_orders") if isinstance(data.get("sub_orders"), list) else []
        own = [p for p in parts if isinstance(p, dict) and p.get("seller_id") == seller_id]
        data["sub_orders"] = own
        own_minor = sum(int(p.get("amount_minor") or 0) for p in own)
        whole_minor = data.get("amount_minor")
        if "amount_minor" in data:
            data["amount_minor"] = own_minor
        if "captured_minor" in data:
            # The whole payment captured: the seller's share is captured in full. Anything else
            # (part of the order captured) is the other sellers' business: the seller hears of
            # its own capture through its sub-order's events.
            if data["captured_minor"] == whole_minor:
                data["captured_minor"] = own_minor
            else:
                del data["captured_minor"]
    return data


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


# --- attempts -----------------------------------------------------------------------------------


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


# --- sweeping -----------------------------------------------------------------------------------


def due_delivery_ids(*, limit: int = 500) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def undispatched_event_ids(
    *, older_than: dt.timedelta = dt.timedelta(minutes=1), limit: int = 500
) -> list[int]:
    return list(
        OrderEvent.objects.filter(
            dispatched_at__isnull=True, created_at__lte=timezone.now() - older_than
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
