"""Settlement test data made through the ledger and settlement's own services: a release is the
two transfers the release step posts (escrow -> seller pending, escrow -> fees) and its hold."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from ledger import chart
from ledger.services import TransferRequest, create_transfers
from settlement.holds import hold_release
from settlement.models import HeldRelease


def fund_escrow(*, currency: str, amount_minor: int) -> None:
    """Buyer money captured into escrow (as a capture posts it)."""
    create_transfers(
        [
            TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=chart.account(currency=currency, code=chart.external("test_psp")),
                credit_account_id=chart.account(currency=currency, code=chart.ESCROW),
                amount_minor=amount_minor,
                currency=currency,
                reason="payment_captured",
            )
        ]
    )


def released(
    seller,
    *,
    net_minor: int,
    fee_minor: int = 0,
    currency: str = "EUR",
    released_at: dt.datetime | None = None,
    sub_order: int | None = None,
) -> HeldRelease:
    """A release of `net_minor` to the seller (and `fee_minor` to the platform), held."""
    fund_escrow(currency=currency, amount_minor=net_minor + fee_minor)
    release_id = uuid.uuid4()
    escrow = chart.account(currency=currency, code=chart.ESCROW)
    metadata = {"sub_order": sub_order or 0, "seller": seller.pk}
    requests = [
        TransferRequest(
            id=release_id,
            debit_account_id=escrow,
            credit_account_id=chart.account(
                currency=currency, code=chart.seller_pending(seller.pk)
            ),
            amount_minor=net_minor,
            currency=currency,
            reason="escrow_released",
            metadata=metadata,
        )
    ]
    if fee_minor:
        requests.append(
            TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=escrow,
                credit_account_id=chart.account(currency=currency, code=chart.FEES),
                amount_minor=fee_minor,
                currency=currency,
                reason="platform_fee",
                metadata=metadata,
            )
        )
    create_transfers(requests)
    return hold_release(
        release_transfer_id=release_id,
        seller=seller,
        currency=currency,
        amount_minor=net_minor,
        released_at=released_at or timezone.now(),
    )
