"""Core's own tables: the API's idempotency keys (see core.idempotency and core.api.idempotency) and
the platform's published signing keys (core.signing_keys)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One Idempotency-Key as first used by one caller on one method and path.

    `scope_digest` (SHA-256 of principal, method, path and key) carries the UNIQUE constraint that
    decides between concurrent requests; the readable columns are for people looking at the table.
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    scope_digest = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    principal = models.CharField(max_length=80)
    method = models.CharField(max_length=10)
    path = models.TextField()
    request_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of method, path and body."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(default=bytes, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the request that owns the key started (or took over a dead one's key).
    locked_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope_digest"], name="idempotency_key_unique_scope"),
            models.CheckConstraint(
                condition=models.Q(status="in_flight")
                | models.Q(response_status__isnull=False, completed_at__isnull=False),
                name="idempotency_key_completed_has_response",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.status}"


class PublishedSigningKey(models.Model):
    """A platform signing key as published to verifiers (/.well-known/clearhouse-keys.json), with
    the period in which its signatures count. Rows are written by core.signing_keys only: a key is
    published the first time the platform signs with it, and a rotated key stays here (its period
    closed) so that seals and receipts it signed still verify."""

    key_id = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=32)
    public_pem = models.TextField()
    valid_from = models.DateTimeField()
    # Null while it is the current key; set once, when the next key is first used.
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["valid_from", "key_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
                name="published_signing_key_period",
            ),
            # One current key at a time (NULLs compared equal: PostgreSQL 15's NULLS NOT DISTINCT).
            models.UniqueConstraint(
                fields=["valid_until"],
                condition=models.Q(valid_until__isnull=True),
                nulls_distinct=False,
                name="published_signing_key_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.algorithm})"
