"""What the buyer's order page shows of the release side: per sub-order the actions the buyer may
take (confirm receipt, open a dispute), its refunds and what escrow still holds; and the timeline
of every OrderEvent in words. Read-only helpers for payments/checkout/views.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from payments.fulfilment.confirmation import CONFIRMABLE
from payments.fulfilment.disputes import dispute_window_open
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.orders.models import Order, OrderEvent, SubOrderStatus
from payments.templatetags.storefront_tags import money

EVENT_WORDS = {
    "payment.authorized": "Payment authorised",
    "payment.failed": "Payment failed",
    "payment.captured": "Payment captured",
    "order.paid": "Order paid (held in escrow)",
    "order.sealed": "Order sent to the seller",
    "order.accepted": "Accepted by seller",
    "order.rejected": "Rejected by seller",
    "order.acceptance_expired": "The seller did not answer in time",
    "order.shipped": "Shipped",
    "order.confirmed": "Receipt confirmed",
    "order.auto_confirmed": "Receipt confirmed automatically (the window ended)",
    "order.released": "Money released to the seller",
    "order.seller_paid": "Seller paid out to their bank",
    "order.acknowledgement_requested": "Asked to acknowledge the final record",
    "order.acknowledgement_reminder": "Reminded to acknowledge the final record",
    "order.record_completed": "Confirmation record complete: the receipt is final",
    "dispute.opened": "Dispute opened",
    "dispute.resolved": "Dispute resolved",
    "refund.created": "Refund requested",
    "refund.succeeded": "Refund paid back",
    "refund.failed": "Refund failed",
}


def actor_words(actor: str, *, viewer: Any, order: Order) -> str:
    """'You' (the viewer's own steps), 'Buyer', 'Seller', 'Clearhouse' or 'Staff'."""
    role, _, ident = actor.partition(":")
    if role == "buyer":
        mine = viewer is not None and (
            ident == str(getattr(viewer, "pk", "")) or order.buyer_id == getattr(viewer, "pk", None)
        )
        return "You" if mine and not getattr(viewer, "is_platform_staff", False) else "Buyer"
    if role == "seller":
        return "You" if viewer is not None and ident == str(getattr(viewer, "pk", "")) else "Seller"
    if role == "staff":
        return "Staff"
    return "Clearhouse"  # system, provider:<name>


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    who: str
    sub_order_id: int | None
    detail: str
    seller: str = ""  # the seller whose part it concerns ("" for the whole order)


def _detail(event: OrderEvent) -> str:
    data = event.data or {}
    if event.kind == "dispute.resolved" and data.get("outcome"):
        return "in favour of the buyer" if data["outcome"] == "buyer" else "in favour of the seller"
    if event.kind.startswith("dispute.opened") or event.kind == "order.rejected":
        return str(data.get("reason") or "")
    if event.kind == "order.shipped":
        return str(data.get("tracking") or "")
    if event.kind.startswith("refund.") and isinstance(data.get("amount_minor"), int):
        return money(data["amount_minor"], str(data.get("currency") or ""))
    if event.kind == "order.seller_paid" and isinstance(data.get("amount_minor"), int):
        return money(data["amount_minor"], str(data.get("currency") or ""))
    return ""


def _seller_names(order: Order) -> dict[int, str]:
    return {
        sub_order.pk: sub_order.seller.display_name or sub_order.seller.email
        for sub_order in order.sub_orders.select_related("seller")
    }


def timeline_entries(events, *, viewer: Any, order: Order) -> list[TimelineEntry]:
    """OrderEvents in words, each with who did it as `viewer` sees it and the seller whose part
    it concerns. The same step told twice (e.g. a retried task's second event) is shown once."""
    sellers = _seller_names(order)
    entries, seen = [], set()
    for event in events.order_by("created_at", "id"):
        entry = TimelineEntry(
            at=event.created_at,
            what=EVENT_WORDS.get(event.kind, event.kind),
            who=actor_words(event.actor, viewer=viewer, order=order),
            sub_order_id=event.sub_order_id,
            detail=_detail(event),
            seller=sellers.get(event.sub_order_id, ""),
        )
        # Two refunds of one part are two steps: the refund's id tells them apart.
        key = (event.kind, entry.sub_order_id, entry.detail, (event.data or {}).get("refund"))
        if key not in seen:
            seen.add(key)
            entries.append(entry)
    return entries


def order_timeline(order: Order, *, viewer: Any) -> list[TimelineEntry]:
    return timeline_entries(OrderEvent.objects.filter(order=order), viewer=viewer, order=order)


def annotate_release_rows(rows: list[dict], *, now: datetime | None = None) -> int:
    """Add can_confirm, can_dispute, refunds and the escrow left after refunds to each row of
    the status panel. Returns the escrow total."""
    now = now or timezone.now()
    sub_orders = [row["sub_order"] for row in rows]
    refunds: dict[int, list[Refund]] = {s.pk: [] for s in sub_orders}
    for refund in Refund.objects.filter(sub_order__in=sub_orders).order_by("created_at", "id"):
        refunds[refund.sub_order_id].append(refund)
    total = 0
    for row in rows:
        sub_order = row["sub_order"]
        mine = refunds[sub_order.pk]
        row["refunds"] = mine
        row["can_confirm"] = sub_order.status in CONFIRMABLE and sub_order.captured_minor > 0
        row["can_dispute"] = dispute_window_open(sub_order, now)
        held = row["escrow"].amount_minor
        if row["escrow"].state == "captured":
            out = sum(
                r.amount_minor
                for r in mine
                if r.source == RefundSource.ESCROW and r.status != RefundStatus.FAILED
            )
            held = max(held - out, 0)
        row["escrow_held_minor"] = held
        row["disputed"] = sub_order.status == SubOrderStatus.DISPUTED
        total += held
    return total
