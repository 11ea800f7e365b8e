"""The two-sided confirmation's rows (imported by settlement/models.py so that Django registers
them): each acknowledgement asked of a seller (per payout) or a buyer (per payout and sub-order),
and each confirmation record stored once complete."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

__all__ = ["AckAnswer", "AckSide", "AckState", "Acknowledgement", "ConfirmationRecord"]


class AckSide(models.TextChoices):
    SELLER = "seller", "Seller"
    BUYER = "buyer", "Buyer"


class AckState(models.TextChoices):
    PENDING = "pending", "Waiting for an answer"
    GIVEN = "given", "Acknowledged"
    LAPSED = "lapsed", "Lapsed (acknowledged automatically)"
    DISPUTED = "disputed", "Disputed: a case for staff"
    RESOLVED = "resolved", "Case resolved by staff"


# The states that close an acknowledgement: the confirmation record waits on no other.
CLOSED_STATES = (AckState.GIVEN, AckState.LAPSED, AckState.RESOLVED)


class AckAnswer(models.TextChoices):
    RECEIVED = "received", "Received"
    NOT_RECEIVED = "not_received", "Not received"
    WRONG_AMOUNT = "wrong_amount", "Wrong amount"


class Acknowledgement(models.Model):
    """One acknowledgement asked once a payout is paid: the seller's of the payout (a signature
    over the payout's canonical statement), or a buyer's of one sub-order the payout settles (a
    signature over the order's statement). The statement is fixed when asked. Answered once:
    given, disputed (a case for staff, then resolved), or lapsed at `due_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    side = models.CharField(max_length=8, choices=AckSide.choices)
    payout = models.ForeignKey(
        "settlement.Payout", on_delete=models.PROTECT, related_name="acknowledgements"
    )
    # The buyer's sub-order (NULL for the seller's, which covers the whole payout).
    sub_order = models.ForeignKey(
        "payments.SubOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="acknowledgements",
    )
    # Who is asked: the seller, or the buyer (NULL for a guest buyer, who can only lapse).
    party = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="acknowledgements",
    )
    state = models.CharField(max_length=16, choices=AckState.choices, default=AckState.PENDING)
    statement = models.BinaryField(help_text="canonical JSON: the exact bytes to sign")
    statement_sha256 = models.CharField(max_length=64)
    due_at = models.DateTimeField(help_text="lapses into an automatic acknowledgement then")
    asked_at = models.DateTimeField(null=True, blank=True, help_text="email/webhook sent")
    reminded_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=16, choices=AckAnswer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # The signature over `statement` (a "received" answer), and the key that made it.
    signer = models.CharField(max_length=24, blank=True)  # seller | buyer | platform_buyer_key
    algorithm = models.CharField(max_length=32, blank=True)
    public_pem = models.TextField(blank=True)
    key_fingerprint = models.CharField(max_length=64, blank=True)
    signature = models.BinaryField(null=True, blank=True)
    # A "not received" or "wrong amount" answer: the case staff decide.
    case_note = models.CharField(max_length=500, blank=True)
    case_resolved_at = models.DateTimeField(null=True, blank=True)
    case_resolution = models.CharField(max_length=500, blank=True)
    case_resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Once closed: when the receipts of the sub-orders it concerns were brought up to date (the
    # confirmation record stored when complete); NULL while that is still to do (the sweeper).
    recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["payout"], condition=Q(side="seller"), name="ack_one_per_payout_seller"
            ),
            models.UniqueConstraint(
                fields=["payout", "sub_order"],
                condition=Q(side="buyer"),
                name="ack_one_per_payout_buyer_part",
            ),
            models.CheckConstraint(
                condition=Q(side="seller", sub_order__isnull=True)
                | Q(side="buyer", sub_order__isnull=False),
                name="ack_side_has_its_part",
            ),
            # A given acknowledgement carries its signature.
            models.CheckConstraint(
                condition=~Q(state="given") | Q(signature__isnull=False, answered_at__isnull=False),
                name="ack_given_is_signed",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="ack_pending_due"),
            models.Index(fields=["party", "state"], name="ack_party_state"),
            models.Index(
                fields=["created_at"], condition=Q(asked_at__isnull=True), name="ack_to_ask"
            ),
            models.Index(
                fields=["updated_at"],
                condition=Q(state__in=["given", "lapsed", "resolved"], recorded_at__isnull=True),
                name="ack_to_record",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} acknowledgement of payout {self.payout_id} ({self.state})"

    @property
    def closed_at(self):
        """When it closed: answered, lapsed (its due time), or its case resolved."""
        if self.state == AckState.LAPSED:
            return self.due_at
        if self.state == AckState.RESOLVED:
            return self.case_resolved_at
        return self.answered_at


class ConfirmationRecord(models.Model):
    """A complete confirmation record of a sub-order: the exact canonical bytes appended to the
    ledger's log (a record of kind "confirmation_record" with this id). Never changed: a record
    made later for the same sub-order (new facts) names this one's hash in its `corrects`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sub_order = models.ForeignKey(
        "payments.SubOrder", on_delete=models.PROTECT, related_name="confirmation_records"
    )
    sequence = models.PositiveIntegerField()
    body = models.BinaryField(help_text="canonical JSON, exactly as logged")
    sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sub_order", "-sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["sub_order", "sequence"], name="confirmation_record_one_per_sequence"
            ),
        ]

    def __str__(self) -> str:
        return f"confirmation record {self.sub_order_id}#{self.sequence}"
