"""The audit trail of staff actions in reconciliation: who, when, what, the values before and
after. Written in the action's own transaction, so an action and its audit row commit together."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from core.errors import PermissionDenied
from settlement.reconciliation.models import AuditEntry


def require_staff(actor) -> None:
    if actor is None or not getattr(actor, "is_staff", False) or not actor.is_active:
        raise PermissionDenied("Only staff reconcile.", code="staff_only")


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def snapshot(obj, fields: Iterable[str]) -> dict:
    """The named fields of `obj` as JSON values."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def audit(actor, action: str, *, before=None, after=None, note: str = "", **targets) -> AuditEntry:
    """One audit row; `targets` are the objects it is shown under (work_item, line, adjustment,
    payout)."""
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        before=before or {},
        after=after or {},
        note=note,
        **{name: value for name, value in targets.items() if value is not None},
    )
