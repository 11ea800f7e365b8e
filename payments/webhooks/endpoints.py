"""A seller's webhook endpoints: create (the secret shown once), update, roll the secret,
enable/disable, delete; who may see which.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.errors import Conflict, NotFound, ValidationError
from payments.orders.events import EVENT_TYPES, SELLER_EVENT_TYPES
from payments.webhooks.http import validate_webhook_url
from payments.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from payments.webhooks.signing import ROLL_GRACE, new_secret, seal_secret

logger = logging.getLogger(__name__)

MAX_ENDPOINTS_PER_SELLER = 20
# What an endpoint may subscribe to: order events and seller-level events (payouts).
SUBSCRIBABLE_EVENT_TYPES: tuple[str, ...] = EVENT_TYPES + SELLER_EVENT_TYPES


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
    unknown = sorted(set(event_types) - set(SUBSCRIBABLE_EVENT_TYPES))
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
    seal_secret(endpoint, secret)
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
        seal_secret(endpoint, secret)
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
