"""Staff actions on the work queue: take an item, match lines by hand, retry a payout, resolve with
a note. Each one is checked first (nothing changes when it is refused) and audited in the same
transaction. Adjustments are in adjustments.py.

Lock order: work item, then statement lines by id, then the payout (settlement's services lock
the payout themselves)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationError
from payments.flows.models import Payment
from settlement.models import Payout, PayoutStatus
from settlement.payouts import services as payout_services
from settlement.reconciliation.audit import audit, require_staff, snapshot
from settlement.reconciliation.models import (
    Adjustment,
    AdjustmentStatus,
    LineMatch,
    LineState,
    MatchKind,
    StatementLine,
    WorkItem,
    WorkStatus,
)

_ITEM_FIELDS = ("status", "owner_id", "resolved_at", "resolution_note")


def _lock_item(item_id: int) -> WorkItem:
    try:
        return WorkItem.objects.select_for_update().get(pk=item_id)
    except WorkItem.DoesNotExist:
        raise NotFound("No such work item.", field="work_item") from None


def take(item_id: int, *, actor) -> WorkItem:
    """The actor owns the item from now on."""
    require_staff(actor)
    with transaction.atomic():
        item = _lock_item(item_id)
        before = snapshot(item, _ITEM_FIELDS)
        item.owner = actor
        item.save(update_fields=["owner"])
        audit(actor, "take", work_item=item, before=before, after=snapshot(item, _ITEM_FIELDS))
    return item


def resolve(item_id: int, *, actor, note: str) -> WorkItem:
    """Close an item with a note saying why (required)."""
    require_staff(actor)
    note = (note or "").strip()
    if not note:
        raise ValidationError("Say why the item is resolved.", code="note_required", field="note")
    with transaction.atomic():
        item = _lock_item(item_id)
        if item.status != WorkStatus.OPEN:
            raise Conflict("This item is already resolved.", field="status")
        before = snapshot(item, _ITEM_FIELDS)
        _close(item, actor, note)
        audit(
            actor,
            "resolve",
            work_item=item,
            line=item.line,
            before=before,
            after=snapshot(item, _ITEM_FIELDS),
            note=note,
        )
    return item


def _close(item: WorkItem, actor, note: str) -> None:
    item.status = WorkStatus.RESOLVED
    item.resolved_at = timezone.now()
    item.resolution_note = note
    if item.owner_id is None:
        item.owner = actor
    item.save(update_fields=["status", "resolved_at", "resolution_note", "owner"])


def match_by_hand(
    *,
    actor,
    line_ids: list[int],
    payout_id: str | None = None,
    payment_id: str | None = None,
    adjustment_id: int | None = None,
    note: str = "",
) -> list[LineMatch]:
    """Match lines to one payout or one payment. Their amounts must add up to the target's; a
    difference is accepted only when a posted adjustment of exactly that difference, in that
    currency, is named. The lines' open items are resolved."""
    require_staff(actor)
    if not line_ids:
        raise ValidationError("Choose at least one statement line.", field="lines")
    if bool(payout_id) == bool(payment_id):
        raise ValidationError("Match to one payout or one payment.", field="payout")
    target, kind = _target(payout_id, payment_id)
    with transaction.atomic():
        lines = list(
            StatementLine.objects.select_for_update().filter(pk__in=line_ids).order_by("pk")
        )
        if len(lines) != len(set(line_ids)):
            raise NotFound("A statement line was not found.", field="lines")
        if any(line.state != LineState.UNMATCHED for line in lines):
            raise Conflict("A chosen line is already matched or resolved.", field="lines")
        if any(line.currency != target.currency for line in lines):
            raise ValidationError("The lines and the target differ in currency.", field="lines")
        total = sum(abs(line.amount_minor) for line in lines)
        difference = total - target.amount_minor
        adjustment = _covering_adjustment(adjustment_id, difference, target.currency)
        matches = []
        for index, line in enumerate(lines):
            before = snapshot(line, ("state",))
            # What each line explains of the target: its amount, the last one less the
            # difference the adjustment covers, so the parts add up to the target.
            explained = abs(line.amount_minor) - (difference if index == len(lines) - 1 else 0)
            matches.append(
                LineMatch.objects.create(
                    line=line,
                    kind=kind,
                    amount_minor=explained,
                    rule="manual",
                    detail={
                        "note": note,
                        "difference_minor": difference,
                        "adjustment": adjustment.pk if adjustment else None,
                    },
                    matched_by=f"staff:{actor.pk}",
                    **{"payout" if kind != MatchKind.INCOMING else "payment": target},
                )
            )
            line.state = LineState.MATCHED
            line.save(update_fields=["state"])
            audit(
                actor,
                "match_by_hand",
                line=line,
                payout=target if isinstance(target, Payout) else None,
                adjustment=adjustment,
                before=before,
                after={"state": line.state, "target": str(target.pk), "kind": kind},
                note=note,
            )
            for item in WorkItem.objects.select_for_update().filter(
                line=line, status=WorkStatus.OPEN
            ):
                before_item = snapshot(item, _ITEM_FIELDS)
                _close(item, actor, note or f"matched by hand to {target.pk}")
                audit(
                    actor,
                    "resolve",
                    work_item=item,
                    before=before_item,
                    after=snapshot(item, _ITEM_FIELDS),
                    note="matched by hand",
                )
    return matches


def _target(payout_id: str | None, payment_id: str | None):
    try:
        if payout_id:
            payout = Payout.objects.get(pk=uuid.UUID(str(payout_id).strip()))
            return payout, MatchKind.PAYOUT
        return Payment.objects.get(pk=uuid.UUID(str(payment_id).strip())), MatchKind.INCOMING
    except (ValueError, Payout.DoesNotExist, Payment.DoesNotExist):
        field = "payout" if payout_id else "payment"
        raise NotFound(f"No such {field}.", field=field) from None


def _covering_adjustment(adjustment_id: int | None, difference: int, currency: str):
    if difference == 0:
        return None
    refusal = (
        f"The lines and the target differ by {difference} minor units: create an adjustment of "
        "that amount first (and have it posted), then name it here."
    )
    if not adjustment_id:
        raise ValidationError(refusal, code="amounts_differ", field="adjustment")
    adjustment = Adjustment.objects.filter(pk=adjustment_id).first()
    if (
        adjustment is None
        or adjustment.status != AdjustmentStatus.POSTED
        or adjustment.currency != currency
        or adjustment.amount_minor != abs(difference)
    ):
        raise ValidationError(refusal, code="amounts_differ", field="adjustment")
    return adjustment


def retry_payout(payout_id: uuid.UUID | str, *, actor, work_item_id: int | None = None) -> str:
    """Re-drive a payout: ask the bank about one still in flight, or pay a failed or returned
    payout's batch again (a new payout, if the batch has none alive). Says what it did."""
    require_staff(actor)
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None:
        raise NotFound("No such payout.", field="payout")
    item = WorkItem.objects.filter(pk=work_item_id).first() if work_item_id else None
    with transaction.atomic():
        if payout.status in (PayoutStatus.CREATED, PayoutStatus.SUBMITTED):
            from settlement.payouts.tasks import payout_check

            transaction.on_commit(lambda: payout_check.delay(str(payout.pk)))
            outcome = "asked the bank again"
        elif payout.status in (PayoutStatus.FAILED, PayoutStatus.RETURNED):
            new_ids = payout_services.create_payouts([payout.batch_id])
            if not new_ids:
                raise Conflict(
                    "The batch already has a live payout, or the seller has no bank account.",
                    field="payout",
                )
            outcome = f"new payout {new_ids[0]}"
        else:
            raise Conflict("A paid payout is not retried.", field="payout")
        audit(
            actor,
            "retry_payout",
            payout=payout,
            work_item=item,
            before={"status": payout.status},
            after={"outcome": outcome},
        )
    return outcome
