"""Adjustments: what the bank and the ledger disagree on, corrected by a new ledger transfer with a
reason (the ledger is never edited). One side is a bank clearing account, the other
platform:recon_adjustments.

Above RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR (in the currency's minor units) an adjustment waits
for a second staff member; the requester can never approve their own (checked here and by a
database constraint). The transfer's id is uuid5 of the adjustment: posting is done once however
often it is retried. Every step is audited."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, PermissionDenied, ValidationError
from core.money import currency_exponent
from ledger import chart
from ledger.services import TransferRequest, create_transfers
from settlement.reconciliation.audit import audit, require_staff, snapshot
from settlement.reconciliation.models import Adjustment, AdjustmentStatus, WorkItem

# The accounts that stand for the platform's bank account in the ledger.
ADJUSTABLE_ACCOUNTS = (
    chart.BANK,
    chart.external("bank_transfer"),
    chart.BANK_RECEIPTS,
    chart.PAYOUTS_IN_TRANSIT,
)
_FIELDS = ("status", "amount_minor", "currency", "account_code", "direction", "approved_by_id")


def adjustment_transfer_id(adjustment_id: int) -> uuid.UUID:
    return uuid.uuid5(chart.ADJUSTMENT_TRANSFERS, f"adjustment:{adjustment_id}")


def request_adjustment(
    *,
    actor,
    currency: str,
    amount_minor: int,
    account_code: str,
    direction: str,
    reason: str,
    work_item: WorkItem | None = None,
) -> Adjustment:
    """Record an adjustment; post it at once unless its amount needs a second staff member."""
    require_staff(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            "An adjustment needs a reason.", code="reason_required", field="reason"
        )
    try:
        currency_exponent(currency)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{currency!r} is not a currency.", code="invalid_currency", field="currency"
        ) from None
    if not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationError(
            "The amount is a positive number of minor units.", code="invalid_amount", field="amount"
        )
    if account_code not in ADJUSTABLE_ACCOUNTS:
        raise ValidationError(
            f"Adjust one of: {', '.join(ADJUSTABLE_ACCOUNTS)}.",
            code="invalid_account",
            field="account_code",
        )
    if direction not in ("debit", "credit"):
        raise ValidationError("Debit or credit the account.", code="invalid", field="direction")
    needs_approval = amount_minor > settings.RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR
    with transaction.atomic():
        adjustment = Adjustment.objects.create(
            work_item=work_item,
            currency=currency,
            amount_minor=amount_minor,
            account_code=account_code,
            direction=direction,
            reason=reason,
            requested_by=actor,
            status=AdjustmentStatus.AWAITING_APPROVAL,
        )
        audit(
            actor,
            "adjustment_requested",
            adjustment=adjustment,
            work_item=work_item,
            after=snapshot(adjustment, _FIELDS),
            note=reason,
        )
        if not needs_approval:
            _post(adjustment, actor)
    return adjustment


def approve_adjustment(adjustment_id: int, *, actor) -> Adjustment:
    """A second staff member approves: the transfer is posted."""
    require_staff(actor)
    with transaction.atomic():
        adjustment = Adjustment.objects.select_for_update().get(pk=adjustment_id)
        if adjustment.status != AdjustmentStatus.AWAITING_APPROVAL:
            raise Conflict("This adjustment is not awaiting approval.", field="status")
        if adjustment.requested_by_id == actor.pk:
            raise PermissionDenied(
                "You cannot approve your own adjustment: a second staff member must.",
                code="own_adjustment",
                field="approved_by",
            )
        adjustment.approved_by = actor
        _post(adjustment, actor)
    return adjustment


def _post(adjustment: Adjustment, actor) -> None:
    before = snapshot(adjustment, _FIELDS)
    account = chart.account(currency=adjustment.currency, code=adjustment.account_code)
    other = chart.account(currency=adjustment.currency, code=chart.RECON_ADJUSTMENTS)
    debit, credit = (account, other) if adjustment.direction == "debit" else (other, account)
    transfer_id = adjustment_transfer_id(adjustment.pk)
    create_transfers(
        [
            TransferRequest(
                id=transfer_id,
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=adjustment.amount_minor,
                currency=adjustment.currency,
                reason="reconciliation_adjustment",
                reference=f"adjustment:{adjustment.pk}",
                metadata={
                    "adjustment": adjustment.pk,
                    "work_item": adjustment.work_item_id,
                    "reason": adjustment.reason[:200],
                    "requested_by": adjustment.requested_by_id,
                    "approved_by": adjustment.approved_by_id,
                },
            )
        ]
    )
    adjustment.status = AdjustmentStatus.POSTED
    adjustment.transfer_id = transfer_id
    adjustment.posted_at = timezone.now()
    adjustment.save(update_fields=["status", "transfer_id", "posted_at", "approved_by"])
    audit(
        actor,
        "adjustment_posted",
        adjustment=adjustment,
        work_item=adjustment.work_item,
        before=before,
        after=snapshot(adjustment, _FIELDS) | {"transfer_id": str(transfer_id)},
    )
