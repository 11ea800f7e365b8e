"""Lifecycle emails to the buyer and the sellers concerned, sent by the event dispatcher.

    send_event_emails(event) -> list of EmailNotification rows written now
    send_seller_email(seller=, kind=, topic=, data=) -> the row written now, or None

One template per event type, templates/emails/<type>.txt, with the recipient's `role` ("buyer" or
"seller") to choose the wording; subjects are in SUBJECTS. Each (event, recipient) is mailed at most
once: the EmailNotification row is inserted and the mail sent in one transaction, so a second
dispatch of the same event finds the row and sends nothing (a crash between sending and commit
can repeat a mail; losing one cannot happen).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from payments import conf
from payments.emails.models import EmailNotification
from payments.orders import events as ev
from payments.orders.event_data import event_data_for
from payments.orders.models import OrderEvent, SubOrder
from payments.templatetags.storefront_tags import money

logger = logging.getLogger(__name__)

BUYER = "buyer"
SELLER = "seller"

# (buyer subject, seller subject) per event type that mails anyone; {number} is the order number.
SUBJECTS: dict[str, tuple[str, str]] = {
    ev.PAYMENT_AUTHORIZED: (
        "Order {number}: we received your order",
        "New order {number} is awaiting your acceptance",
    ),
    ev.ORDER_ACCEPTED: (
        "Order {number}: the seller accepted your order",
        "Order {number}: you accepted the order",
    ),
    ev.ORDER_REJECTED: (
        "Order {number}: the seller could not accept your order",
        "Order {number}: you rejected the order",
    ),
    ev.ORDER_ACCEPTANCE_EXPIRED: (
        "Order {number}: the seller did not respond in time",
        "Order {number}: the time to accept has run out",
    ),
    ev.ORDER_SHIPPED: (
        "Order {number} is on its way",
        "Order {number}: marked as shipped",
    ),
    ev.ORDER_CONFIRMED: (
        "Order {number}: thank you for confirming receipt",
        "Order {number}: the buyer confirmed receipt",
    ),
    ev.ORDER_AUTO_CONFIRMED: (
        "Order {number}: receipt confirmed automatically",
        "Order {number}: receipt confirmed automatically",
    ),
    ev.DISPUTE_OPENED: (
        "Order {number}: your dispute has been opened",
        "Order {number}: the buyer opened a dispute",
    ),
    ev.DISPUTE_RESOLVED: (
        "Order {number}: the dispute is resolved",
        "Order {number}: the dispute is resolved",
    ),
    ev.REFUND_SUCCEEDED: (
        "Order {number}: your refund of {amount} is on its way",
        "Order {number}: a refund of {amount} was paid to the buyer",
    ),
    ev.ORDER_SELLER_PAID: (
        "Order {number}: the seller has been paid",
        "Order {number}: paid out to your bank",
    ),
    ev.ORDER_ACK_REQUESTED: (
        "Order {number}: please acknowledge the final record",
        "Order {number}: the buyer is asked to acknowledge the final record",
    ),
    ev.ORDER_ACK_REMINDER: (
        "Order {number}: reminder: please acknowledge the final record",
        "Order {number}: the buyer was reminded to acknowledge",
    ),
    ev.ORDER_RECORD_COMPLETED: (
        "Order {number}: the confirmation is complete; your final receipt",
        "Order {number}: the confirmation is complete; the final receipt",
    ),
}
# Event types mailed to the buyer only: the seller hears of a payout once, for all its orders
# (send_seller_email), not once per order.
BUYER_ONLY: frozenset[str] = frozenset(
    {ev.ORDER_SELLER_PAID, ev.ORDER_ACK_REQUESTED, ev.ORDER_ACK_REMINDER}
)

# Seller-level emails (templates/emails/<kind>.txt, with `data`): subject per kind; {amount} is
# the payout's amount.
SELLER_SUBJECTS: dict[str, str] = {
    ev.PAYOUT_PAID: "Payout of {amount} paid to your bank",
    ev.PAYOUT_FAILED: "Payout of {amount} failed: check your bank account",
    ev.PAYOUT_RETURNED: "Payout of {amount} came back from your bank: check your bank account",
    ev.PAYOUT_ACK_REQUESTED: "Payout of {amount}: please acknowledge receipt",
    ev.PAYOUT_ACK_REMINDER: "Reminder: please acknowledge the payout of {amount}",
}


@dataclass(frozen=True)
class Recipient:
    email: str
    role: str
    seller_id: int | None = None


def _sub_orders_of(event: OrderEvent) -> list[SubOrder]:
    """The sub-orders the event concerns (its own, or all of the order's), with their sellers
    and lines (emails list them), loaded once for all the event's emails."""
    if event.sub_order_id is not None:
        sub_orders = [event.sub_order]
    else:
        sub_orders = list(event.order.sub_orders.select_related("seller").order_by("id"))
    prefetch_related_objects(sub_orders, "lines")
    return sub_orders


def recipients_for(
    event: OrderEvent, *, sub_orders: list[SubOrder] | None = None
) -> list[Recipient]:
    """The buyer, then each seller concerned (the sub-order's, or all of the order's)."""
    order = event.order
    people = [Recipient(order.buyer_email, BUYER)] if order.buyer_email else []
    if sub_orders is None:
        sub_orders = _sub_orders_of(event)
    for sub_order in sub_orders if event.kind not in BUYER_ONLY else []:
        people.append(Recipient(sub_order.seller.email, SELLER, sub_order.seller_id))
    seen: set[str] = set()
    unique = []
    for person in people:
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            unique.append(person)
    return unique


def _absolute(path: str) -> str:
    return str(conf.get("PAYMENTS_PUBLIC_BASE_URL")).rstrip("/") + path


def _seller_order_url(sub_order_id: int) -> str:
    try:
        return _absolute(reverse("payments:seller_order", args=[sub_order_id]))
    except NoReverseMatch:
        return _absolute(f"/seller/orders/{sub_order_id}/")


def _seller_name(seller: Any) -> str:
    # No profile: the reverse accessor raises an AttributeError subclass, so getattr gives None.
    profile = getattr(seller, "seller_profile", None) if seller is not None else None
    legal_name = profile.legal_name if profile else ""
    return legal_name or getattr(seller, "display_name", "") or "The seller"


def _context(event: OrderEvent, recipient: Recipient, sub_orders: list[SubOrder]) -> dict[str, Any]:
    order = event.order
    if recipient.role == SELLER:
        sub_orders = [s for s in sub_orders if s.seller_id == recipient.seller_id]
    data = event_data_for(
        event, seller_id=recipient.seller_id if recipient.role == SELLER else None
    )
    amount = data.get("amount_minor")
    currency = data.get("currency") or order.currency
    sub_order = event.sub_order if event.sub_order_id else (sub_orders[0] if sub_orders else None)
    return {
        "role": recipient.role,
        "event": event,
        "data": data,
        "order": order,
        "sub_order": sub_order,
        "sub_orders": sub_orders,
        "seller_name": _seller_name(sub_order.seller if sub_order else None),
        "amount": money(amount, currency) if isinstance(amount, int) else "",
        "total": money(sum(s.amount_minor for s in sub_orders), order.currency)
        if recipient.role == SELLER
        else money(order.total_minor, order.currency),
        "order_url": _absolute(reverse("payments:order", args=[order.pk])),
        "seller_order_url": _seller_order_url(sub_order.pk) if sub_order else "",
        "reason": data.get("reason") or getattr(event.sub_order, "rejection_reason", "") or "",
    }


def render_email(
    event: OrderEvent, recipient: Recipient, *, sub_orders: list[SubOrder] | None = None
) -> tuple[str, str]:
    """(subject, body) of the email about `event` for `recipient`; `sub_orders` as loaded by
    the caller for this event (else they are loaded here)."""
    if sub_orders is None:
        sub_orders = _sub_orders_of(event)
    context = _context(event, recipient, sub_orders)
    buyer_subject, seller_subject = SUBJECTS[event.kind]
    subject = (buyer_subject if recipient.role == BUYER else seller_subject).format(
        number=event.order.number, amount=context["amount"] or "the amount"
    )
    body = render_to_string(f"emails/{event.kind}.txt", context)
    return subject, body.strip() + "\n"


def send_event_emails(event: OrderEvent) -> list[EmailNotification]:
    """Mail everyone concerned who has not been mailed about this event yet."""
    if event.kind not in SUBJECTS:
        return []
    sent = []
    # Loaded once for every recipient's email, not again per recipient.
    sub_orders = _sub_orders_of(event)
    for recipient in recipients_for(event, sub_orders=sub_orders):
        if EmailNotification.objects.filter(event=event, recipient=recipient.email).exists():
            continue
        subject, body = render_email(event, recipient, sub_orders=sub_orders)
        try:
            with transaction.atomic():
                # Inserted first: a concurrent dispatcher waits on the unique row, then skips.
                row = EmailNotification.objects.create(
                    event=event,
                    recipient=recipient.email,
                    role=recipient.role,
                    subject=subject[:255],
                    sent_at=timezone.now(),
                )
                EmailMessage(subject=subject, body=body, to=[recipient.email]).send()
        except IntegrityError:
            continue
        sent.append(row)
        logger.info("emails: %s about event %s sent to a %s", event.kind, event.pk, recipient.role)
    return sent


def send_seller_email(*, seller: Any, kind: str, topic: str, data: dict[str, Any]) -> Any:
    """Mail the seller about a seller-level event (a payout's outcome, `data` its public fields)
    once per (topic, recipient): the row is inserted and the mail sent in one transaction, as for
    order events. Returns the EmailNotification written now, or None (already mailed)."""
    if not topic or len(topic) > 80:
        raise ValueError("a seller email needs a topic of 1 to 80 characters")
    recipient = seller.email
    if not recipient or EmailNotification.objects.filter(topic=topic, recipient=recipient).exists():
        return None
    amount = data.get("amount_minor")
    context = {
        "data": data,
        "seller_name": _seller_name(seller),
        "amount": money(amount, data.get("currency") or "") if isinstance(amount, int) else "",
    }
    subject = SELLER_SUBJECTS[kind].format(amount=context["amount"] or "your money")
    body = render_to_string(f"emails/{kind}.txt", context).strip() + "\n"
    try:
        with transaction.atomic():
            row = EmailNotification.objects.create(
                topic=topic,
                recipient=recipient,
                role=SELLER,
                subject=subject[:255],
                sent_at=timezone.now(),
            )
            EmailMessage(subject=subject, body=body, to=[recipient]).send()
    except IntegrityError:  # a concurrent run mailed it first
        return None
    logger.info("emails: %s about %s sent to a seller", kind, topic)
    return row
