"""Webhook signing secrets: made, sealed at rest, opened to sign, rolled, re-wrapped.

The secret must be usable to sign, so it is stored encrypted (AES-256-GCM under its own data key,
wrapped by the master key ring; the endpoint's id is bound as associated data), never hashed.
Signing follows Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(secret,
"id.timestamp.body")>`. After a roll the previous secret signs alongside the new one for
ROLL_GRACE.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import Webhook

from core import crypto
from core.errors import ApplicationError
from payments.webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)


SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret

SECRET_BYTES = 32

# After a roll, the previous secret signs alongside the new one for this long.
ROLL_GRACE = dt.timedelta(hours=24)


class WebhookSecretUnreadable(ApplicationError):
    """The endpoint's signing secret could not be decrypted."""

    code = "webhook_secret_unreadable"
    http_status = 500


def _associated_data(endpoint_id: uuid.UUID) -> bytes:
    return b"clearhouse/webhooks/endpoint/" + str(endpoint_id).encode()


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@sensitive_variables("secret")
def seal_secret(endpoint: WebhookEndpoint, secret: str) -> None:
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
