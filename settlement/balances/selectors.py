"""A seller's money at a glance, per currency, for the seller's orders page.

    Pending    ledger seller:<id>:pending    what confirmed orders released (net of the fee)
    Available  ledger seller:<id>:available  what payouts may take (absent until settlement makes it)
    In escrow  computed from the SubOrders   money still held for the seller's open sub-orders

"In escrow" is not a per-seller ledger account (platform:escrow holds every seller's money), so
it is computed from the sub-orders still holding money (paid and neither released, refunded nor
rejected): a captured sub-order holds what was captured less the refunds out of escrow (paid
or on their way: as the buyer's order page counts them); one not captured yet holds its authorised amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BigIntegerField, Case, F, OuterRef, Subquery, Sum, When
from django.db.models.functions import Coalesce

from ledger import chart
from ledger.models import Account
from ledger.selectors import account_balance
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.orders.models import SubOrder, SubOrderStatus

# Sub-order states in which the buyer's money is still held for the seller.
HOLDING_STATES = (
    SubOrderStatus.AWAITING_ACCEPTANCE,
    SubOrderStatus.ACCEPTED,
    SubOrderStatus.SHIPPED,
    SubOrderStatus.DISPUTED,
)


@dataclass(frozen=True)
class SellerBalance:
    """One currency's amounts in minor units."""

    currency: str
    pending_minor: int = 0
    available_minor: int = 0
    escrow_minor: int = 0


def _ledger_balances(seller_id: object) -> dict[str, dict[str, int]]:
    """{currency: {"pending": n, "available": n}} from the ledger (credit balances, posted)."""
    names = {
        chart.seller_pending(seller_id): "pending",
        chart.seller_available(seller_id): "available",
    }
    found: dict[str, dict[str, int]] = {}
    accounts = Account.objects.filter(code__in=list(names)).values_list("id", "code", "currency")
    for account_id, code, currency in accounts:
        found.setdefault(currency, {})[names[code]] = account_balance(account_id).credit_balance
    return found


def _escrow_by_currency(seller_id: object) -> dict[str, int]:
    refunded = (
        Refund.objects.filter(sub_order=OuterRef("pk"), source=RefundSource.ESCROW)
        .exclude(status=RefundStatus.FAILED)
        .order_by()
        .values("sub_order")
        .annotate(total=Sum("amount_minor"))
        .values("total")
    )
    held = Case(
        When(
            captured_minor__gt=0,
            then=F("captured_minor")
            - Coalesce(Subquery(refunded, output_field=BigIntegerField()), 0),
        ),
        default=F("amount_minor"),
        output_field=BigIntegerField(),
    )
    rows = (
        SubOrder.objects.filter(seller_id=seller_id, status__in=HOLDING_STATES)
        .order_by()
        .values("currency")
        .annotate(total=Sum(held))
    )
    return {row["currency"]: max(int(row["total"] or 0), 0) for row in rows}


def seller_balances(*, seller_id: object) -> list[SellerBalance]:
    """The seller's pending, available and in-escrow amounts, one entry per currency in which
    any of them exists, sorted by currency code."""
    ledger = _ledger_balances(seller_id)
    escrow = _escrow_by_currency(seller_id)
    return [
        SellerBalance(
            currency=currency,
            pending_minor=ledger.get(currency, {}).get("pending", 0),
            available_minor=ledger.get(currency, {}).get("available", 0),
            escrow_minor=escrow.get(currency, 0),
        )
        for currency in sorted(set(ledger) | set(escrow))
    ]
