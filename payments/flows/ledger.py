"""The payment side's ledger postings (the accounts: ledger/chart.py).

    authorise   external:<provider> -> platform:escrow     one PENDING transfer per sub-order
    capture     post those pending transfers (fully, partly, or void a sub-order's hold): the
                requests are _close_hold's, posted by payments_capture (capture_plpgsql)
    void/fail   void those pending transfers

Bank transfers differ because the money arrives before it can be applied (and may arrive short,
long or late): every arrival is first POSTED external:bank_transfer -> platform:bank_receipts
(money received, not yet applied; limited to never go negative), and a completed payment's
per-sub-order holds are taken from platform:bank_receipts and posted at once. What is left in
platform:bank_receipts (excess, or money for an expired payment) is owed back to buyers and is
refunded by staff.

Transfer ids are uuid5 of (payment, sub-order, step): the ledger is idempotent on ids, so a
replayed step writes nothing new. These functions run inside the caller's transaction, with the
Payment row already locked (lock order: Payment -> Order -> SubOrders -> ledger accounts).
"""

from __future__ import annotations

import uuid

from core.errors import IntegrityViolation
from ledger import chart
from ledger.models import Transfer, TransferKind
from ledger.services import TransferRequest, create_transfers
from payments.flows.models import Payment, PaymentMethod
from payments.orders.models import SubOrder


def transfer_id(payment_id, sub_order_id, step: str) -> uuid.UUID:
    return uuid.uuid5(
        chart.PAYMENT_TRANSFERS, f"payment:{payment_id}:sub_order:{sub_order_id}:{step}"
    )


def hold_transfer_id(payment_id, sub_order_id) -> uuid.UUID:
    return transfer_id(payment_id, sub_order_id, "hold")


def _hold_source(payment: Payment) -> int:
    """The id of the account the holds are taken from."""
    if payment.method == PaymentMethod.BANK_TRANSFER:
        return chart.account(currency=payment.currency, code=chart.BANK_RECEIPTS)
    return chart.account(currency=payment.currency, code=chart.external(payment.provider))


def _escrow(payment: Payment) -> int:
    return chart.account(currency=payment.currency, code=chart.ESCROW)


def _sub_orders(payment: Payment) -> list[SubOrder]:
    sub_orders = list(
        SubOrder.objects.select_for_update().filter(order_id=payment.order_id).order_by("id")
    )
    total = sum(sub.amount_minor for sub in sub_orders)
    if not sub_orders or total != payment.amount_minor:
        raise IntegrityViolation(
            f"Sub-orders sum to {total}, the payment is {payment.amount_minor}.",
            code="sub_orders_do_not_match_payment",
        )
    if any(sub.currency != payment.currency for sub in sub_orders):
        raise IntegrityViolation("Sub-order currency differs from the payment's.", code="currency")
    return sub_orders


def _reference(payment: Payment) -> str:
    return f"payment:{payment.id}"


def hold_request(
    payment: Payment, sub_order_id: int, seller_id: int, amount_minor: int, *, accounts
) -> TransferRequest:
    """One sub-order's pending hold into escrow; `accounts`: (hold source, escrow) ids."""
    source, escrow = accounts
    return TransferRequest(
        id=hold_transfer_id(payment.id, sub_order_id),
        debit_account_id=source,
        credit_account_id=escrow,
        amount_minor=amount_minor,
        currency=payment.currency,
        reason="payment_authorized",
        kind="pending",
        reference=_reference(payment),
        metadata={"order": str(payment.order_id), "sub_order": sub_order_id, "seller": seller_id},
    )


def _close_hold(
    payment: Payment,
    sub: SubOrder,
    *,
    capture_minor: int,
    void_reason: str = "payment_voided",
    accounts: tuple[int, int] | None = None,
) -> TransferRequest:
    """Post `capture_minor` of one sub-order's hold, or void it when that is 0. The ids are the
    same whether the whole payment or one sub-order is settled, so a hold closes only once.
    `accounts` (hold source, escrow): looked up once by callers that close many holds."""
    source, escrow = accounts or (_hold_source(payment), _escrow(payment))
    common = {
        "debit_account_id": source,
        "credit_account_id": escrow,
        "currency": payment.currency,
        "pending_id": hold_transfer_id(payment.id, sub.id),
        "reference": _reference(payment),
        "metadata": {"order": str(payment.order_id), "sub_order": sub.id},
    }
    if capture_minor:
        return TransferRequest(
            id=transfer_id(payment.id, sub.id, "capture"),
            amount_minor=capture_minor,
            reason="payment_captured",
            kind="post_pending",
            **common,
        )
    return TransferRequest(
        id=transfer_id(payment.id, sub.id, "void"),
        amount_minor=sub.amount_minor,
        reason=void_reason,
        kind="void_pending",
        **common,
    )


def ledger_void_holds(payment: Payment) -> None:
    """Void or failure after authorisation: release every sub-order's hold still open (one
    released on its own meanwhile, by a rejection that got in first, is closed already)."""
    sub_orders = _sub_orders(payment)
    closed = set(
        Transfer.objects.filter(
            pending_id__in=[hold_transfer_id(payment.id, sub.id) for sub in sub_orders]
        ).values_list("pending_id", flat=True)
    )
    accounts = (_hold_source(payment), _escrow(payment))
    requests = [
        _close_hold(payment, sub, capture_minor=0, accounts=accounts)
        for sub in sub_orders
        if hold_transfer_id(payment.id, sub.id) not in closed
    ]
    if requests:
        create_transfers(requests)


def ledger_record_bank_arrival(
    *, payment: Payment, bank_transaction_id: str, amount_minor: int, currency: str
) -> None:
    """Money arrived on the platform's account: external:bank_transfer -> platform:bank_receipts."""
    external = chart.account(currency=currency, code=chart.external(payment.provider))
    receipts = chart.account(currency=currency, code=chart.BANK_RECEIPTS)
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid5(chart.PAYMENT_TRANSFERS, f"bank_arrival:{bank_transaction_id}"),
                debit_account_id=external,
                credit_account_id=receipts,
                amount_minor=amount_minor,
                currency=currency,
                reason="bank_transfer_received",
                kind="posted",
                reference=_reference(payment),
                metadata={"bank_transaction_id": bank_transaction_id},
            )
        ]
    )


# --- one sub-order at a time (each seller's acceptance or rejection; multicapture) ---------------


def sub_order_hold_state(payment: Payment, sub_order: SubOrder) -> str:
    """ "none" (no hold placed), "pending", "posted" (captured) or "voided"."""
    hold_id = hold_transfer_id(payment.id, sub_order.id)
    if not Transfer.objects.filter(id=hold_id, kind=TransferKind.PENDING).exists():
        return "none"
    close = Transfer.objects.filter(pending_id=hold_id).values_list("kind", flat=True).first()
    if close is None:
        return "pending"
    return "posted" if close == TransferKind.POST_PENDING else "voided"


def _hold_ids(payment: Payment) -> list[uuid.UUID]:
    return [
        hold_transfer_id(payment.id, sub_order_id)
        for sub_order_id in SubOrder.objects.filter(order_id=payment.order_id).values_list(
            "id", flat=True
        )
    ]


def any_hold_settled(payment: Payment) -> bool:
    """Whether some sub-order's hold was already captured or released on its own."""
    return Transfer.objects.filter(pending_id__in=_hold_ids(payment)).exists()


def any_hold_pending(payment: Payment) -> bool:
    """Whether some sub-order's hold is placed and neither captured nor released yet (one query
    for all sub-orders: sub_order_hold_state(...) == "pending" for any of them)."""
    hold_ids = _hold_ids(payment)
    closed = Transfer.objects.filter(pending_id__in=hold_ids).values("pending_id")
    return (
        Transfer.objects.filter(id__in=hold_ids, kind=TransferKind.PENDING)
        .exclude(id__in=closed)
        .exists()
    )


def ledger_capture_sub_order_hold(payment: Payment, sub_order: SubOrder, amount_minor: int) -> None:
    """Post one sub-order's hold (its seller accepted). Same transfer id as a whole-payment capture,
    so the two can never both happen. Caller holds Payment -> Order -> SubOrder locks."""
    assert 0 < amount_minor <= sub_order.amount_minor
    create_transfers([_close_hold(payment, sub_order, capture_minor=amount_minor)])


def ledger_void_sub_order_hold(payment: Payment, sub_order: SubOrder) -> None:
    """Void one sub-order's hold (its seller rejected, or the acceptance window lapsed)."""
    create_transfers(
        [_close_hold(payment, sub_order, capture_minor=0, void_reason="payment_sub_order_released")]
    )
