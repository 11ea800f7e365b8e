"""The platform's published signing keys: which key may have signed what, and when.

A platform signature (a ledger seal's tree head, a receipt) counts only if its key was valid at
the time the signed bytes name: valid_from <= that time <= valid_until, with no end for the
current key. Verifiers read these rows from /.well-known/clearhouse-keys.json.

Rotation needs no step of its own: configure a new CLEARHOUSE_SIGNING_KEY, and the first signature
made with it (`signing_key_for_signature`) publishes it and closes the previous key's period at
that instant. The old key stays published, so what it signed still verifies; it never signs
again (`RetiredSigningKey`), since a verifier would refuse what it signed after its period.

Races: `signing_key_for_signature` share-locks the key's row until the caller's transaction ends,
and closing a period updates that row, so a rotation waits for signatures in progress: every
signature by a key is made inside its period.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from core import crypto
from core.models import PublishedSigningKey

ALGORITHM = crypto.ED25519


class RetiredSigningKey(ImproperlyConfigured):
    """The configured platform signing key was retired: configure the current one."""


def format_time(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds and a Z, as in tree heads; None stays None."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _share_locked(key_id: str) -> PublishedSigningKey | None:
    table = PublishedSigningKey._meta.db_table
    rows = list(
        PublishedSigningKey.objects.raw(
            f"SELECT * FROM {table} WHERE key_id = %s FOR SHARE",  # noqa: S608 (model's table)
            [key_id],
        )
    )
    return rows[0] if rows else None


def _publish(key_id: str, at: dt.datetime | None) -> None:
    """Publish the configured key; close the period of the key it replaces."""
    with transaction.atomic():
        # FOR UPDATE waits for signatures still being made with the old key (they share-lock it).
        previous = list(
            PublishedSigningKey.objects.select_for_update()
            .filter(valid_until__isnull=True)
            .exclude(key_id=key_id)
        )
        now = timezone.now()
        start = now if previous or at is None else min(at, now)
        for row in previous:
            row.valid_until = max(now, row.valid_from)
            row.save(update_fields=["valid_until"])
        # Two processes publishing the same new key at once: the second insert does nothing.
        PublishedSigningKey.objects.bulk_create(
            [
                PublishedSigningKey(
                    key_id=key_id,
                    algorithm=ALGORITHM,
                    public_pem=crypto.platform_public_key_pem(),
                    valid_from=start,
                )
            ],
            ignore_conflicts=True,
        )


def signing_key_for_signature(*, at: dt.datetime | None = None) -> PublishedSigningKey:
    """The configured platform key's published row, publishing it first if it is new.

    Call it in the transaction that signs and stores the signature: the row stays share-locked
    until that transaction ends. `at` is the time the signed bytes will name; a key published now
    is valid from that time at the latest.
    """
    assert connection.in_atomic_block, "call this in the transaction that signs"
    key_id = crypto.platform_key_id()
    row = _share_locked(key_id)
    if row is None:
        _publish(key_id, at)
        row = _share_locked(key_id)
    if row is None:
        raise ImproperlyConfigured(
            f"platform key {key_id} could not be published: another new key is being published "
            "at the same time (two CLEARHOUSE_SIGNING_KEY values in use?)"
        )
    if row.valid_until is not None:
        raise RetiredSigningKey(
            f"platform signing key {key_id} was retired at {format_time(row.valid_until)}; "
            "configure the current CLEARHOUSE_SIGNING_KEY"
        )
    return row


def published_keys() -> list[PublishedSigningKey]:
    """Every key ever published, oldest first."""
    return list(PublishedSigningKey.objects.order_by("valid_from", "key_id"))


def key_json(key: PublishedSigningKey) -> dict:
    """One key as /.well-known/clearhouse-keys.json lists it (docs/receipts.md)."""
    return {
        "key_id": key.key_id,
        "algorithm": key.algorithm,
        "public_key_pem": key.public_pem,
        "valid_from": format_time(key.valid_from),
        "valid_until": format_time(key.valid_until),
        "status": "current" if key.valid_until is None else "retired",
    }
