"""What an order event says to whom: its public data as a given seller may see it.

The one redaction rule for the webhooks' payloads, the events API and the lifecycle emails.
"""

from __future__ import annotations

from typing import Any

from payments.orders.models import OrderEvent


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
