"""A seller marks an accepted sub-order shipped: confirm_by = now + the auto-confirm window
(the buyer confirms receipt or disputes before it lapses).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, TryAgainLater, ValidationError
from payments import conf
from payments.fulfilment.acceptance import (
    MAX_TRACKING_CHARS,
    SO,
    lock_chain,
    settle,
    sub_order_get_for_seller,
)
from payments.orders.events import ORDER_SHIPPED
from payments.orders.models import SubOrder
from payments.orders.sub_order_state import sub_order_transition


def sub_order_mark_shipped(
    *, sub_order_id: Any, seller: Any, actor: str, tracking: str = ""
) -> SubOrder:
    """accepted -> shipped; the buyer's auto-confirm clock starts (confirm_by)."""
    tracking = " ".join(str(tracking or "").split())
    if len(tracking) > MAX_TRACKING_CHARS:
        raise ValidationError(f"At most {MAX_TRACKING_CHARS} characters.", field="tracking")
    sub_order = sub_order_get_for_seller(seller=seller, sub_order_id=sub_order_id)
    if sub_order.status == SO.SHIPPED:
        raise Conflict("You already marked this order shipped.", code="already_shipped")
    if sub_order.status != SO.ACCEPTED:
        raise Conflict(
            f"Only an accepted order can be shipped; this one is "
            f"{sub_order.get_status_display().lower()}.",
            code="not_accepted",
        )
    if sub_order.captured_minor == 0:
        settle(sub_order.pk, capture=True, actor=actor)  # a capture the provider deferred
        sub_order.refresh_from_db()
        if sub_order.captured_minor == 0:
            raise TryAgainLater(
                "The buyer's payment for this order is not captured yet; try again shortly.",
                code="capture_pending",
            )
    now = timezone.now()
    with transaction.atomic():
        lock_chain(sub_order)
        return sub_order_transition(
            sub_order_id=sub_order.pk,
            to_status=SO.SHIPPED,
            actor=actor,
            event=ORDER_SHIPPED,
            fields={"shipped_at": now, "confirm_by": now + conf.auto_confirm_window()},
            data={"tracking": tracking} if tracking else {},
        )
