"""What the buyer's order page says is true now, in words: the order's headline (derived from its
sub-orders), what the payment did, and per seller where that part's money is.

British English throughout (authorised, cancelled). Read-only; the page's view
(payments/checkout/order_views.py) calls `summarise` on the rows annotate_release_rows made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from payments.flows.models import Payment, PaymentStatus
from payments.fulfilment.models import RefundSource, RefundStatus
from payments.orders.events import ORDER_SELLER_PAID
from payments.orders.models import Order, OrderEvent, OrderStatus, SubOrderStatus
from payments.templatetags.storefront_tags import money

# Parts that are over without the seller being paid (the buyer's money went back or never left).
ENDED_UNPAID = frozenset(
    {SubOrderStatus.REFUNDED, SubOrderStatus.REJECTED, SubOrderStatus.CANCELLED}
)
WITH_SELLER = frozenset(
    {SubOrderStatus.ACCEPTED, SubOrderStatus.SHIPPED, SubOrderStatus.AWAITING_ACCEPTANCE}
)

# The order's own words before it is paid, and after it ended unpaid.
UNPAID_HEADLINES = {
    OrderStatus.AWAITING_PAYMENT: "Awaiting payment",
    OrderStatus.PAYMENT_FAILED: "Payment failed",
    OrderStatus.EXPIRED: "Expired",
    OrderStatus.CANCELLED: "Cancelled",
}

PAYMENT_WORDS = {
    PaymentStatus.CREATED: "Started",
    PaymentStatus.REQUIRES_ACTION: "Waiting for you to approve it",
    PaymentStatus.AWAITING_TRANSFER: "Waiting for your bank transfer",
    PaymentStatus.AUTHORIZED: "Authorised (held on your card, not taken)",
    PaymentStatus.CAPTURED: "Captured",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.VOIDED: "Released (nothing taken)",
    PaymentStatus.EXPIRED: "Expired",
}


def refunded_minor(refunds: Iterable[Any]) -> int:
    """Money on its way back or back (pending and succeeded refunds; a failed one gave nothing)."""
    return sum(r.amount_minor for r in refunds if r.status != RefundStatus.FAILED)


HEADLINE_TONES = {"In dispute": "disputed", "Refunded": "refunded", "Cancelled": "cancelled"}


def order_headline(order: Order, rows: list[dict]) -> str:
    """One truthful status for the buyer, from the sub-orders once the order is paid."""
    if order.status in UNPAID_HEADLINES:
        return UNPAID_HEADLINES[order.status]
    statuses = [row["sub_order"].status for row in rows]
    refunded = sum(refunded_minor(row["refunds"]) for row in rows)
    active = [s for s in statuses if s not in ENDED_UNPAID]
    if SubOrderStatus.DISPUTED in statuses:
        return "In dispute"
    if not active:
        return "Refunded" if refunded else "Cancelled"
    if all(s == SubOrderStatus.CONFIRMED for s in active):
        return "Completed, partly refunded" if refunded else "Completed"
    if refunded:
        return "Partly refunded"
    if all(s == SubOrderStatus.AWAITING_ACCEPTANCE for s in active):
        return OrderStatus.PAID.label  # "Paid (held in escrow)": no seller has answered yet
    if all(s in (SubOrderStatus.SHIPPED, SubOrderStatus.CONFIRMED) for s in active):
        return "Shipped"
    return "With the sellers"


def payment_words(payment: Payment | None, rows: list[dict]) -> str:
    """What the money did: authorised, captured (or partly), partly refunded, refunded."""
    if payment is None:
        return ""
    captured = payment.captured_minor or 0
    refunds = [r for row in rows for r in row["refunds"]]
    back = refunded_minor(r for r in refunds if r.source != RefundSource.HOLD_RELEASE)
    if payment.status == PaymentStatus.AUTHORIZED and captured:
        words = "Partly captured"
    else:
        words = PAYMENT_WORDS.get(payment.status, payment.get_status_display())
    if back and captured and back >= captured:
        return "Refunded"
    if back:
        return f"{words}, partly refunded ({money(back, payment.currency)} back)"
    return words


def _money_place(row: dict, *, paid_out: bool) -> str:
    sub_order = row["sub_order"]
    status = sub_order.status
    if status == SubOrderStatus.AWAITING_PAYMENT:
        return "Not paid yet"
    if status in ENDED_UNPAID:
        return "Back with you" if row["refunds"] or row["escrow"].state != "none" else "Not taken"
    if status == SubOrderStatus.CONFIRMED:
        return "Paid out to the seller" if paid_out else "Released to the seller"
    if status == SubOrderStatus.DISPUTED:
        return "Held until the dispute is decided"
    if row["escrow"].state == "authorized":
        return "Held on your card (authorised, not taken)"
    return "Held by Clearhouse (escrow)"


def summarise(order: Order, rows: list[dict], payment: Payment | None) -> dict:
    """The headline and payment line for the page; adds to each row `refunded_minor` and
    `money_place` (held, released to the seller, paid out, back with you)."""
    paid_out = set(
        OrderEvent.objects.filter(order=order, kind=ORDER_SELLER_PAID).values_list(
            "sub_order_id", flat=True
        )
    )
    for row in rows:
        row["refunded_minor"] = refunded_minor(row["refunds"])
        row["money_place"] = _money_place(row, paid_out=row["sub_order"].pk in paid_out)
    headline = order_headline(order, rows)
    return {
        "headline": headline,
        # The headline's colour follows the headline, not the order row's own status (an order
        # in dispute is still "paid" there).
        "headline_tone": HEADLINE_TONES.get(headline, order.status),
        "payment_words": payment_words(payment, rows),
    }
