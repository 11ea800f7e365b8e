"""A payout's ledger transfers (ids uuid5 of the chart's PAYOUT namespace, so every step posts
once however often it is retried):

    reserve   seller:<id>:available -> platform:payouts_in_transit   pending, when first submitted
    settle    post the reserve, and platform:payouts_in_transit -> external:bank, when paid
    void      void the reserve, when the bank rejects the transfer
    return    external:bank -> seller:<id>:available, when a paid transfer comes back

settle, void and give_back make the requests; post() posts those of one transaction together.

Their reasons all start with "payout_": batches leave them out, as they pay batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ledger import chart
from ledger.models import TransferKind
from ledger.services import TransferRequest, create_transfers
from settlement.models import Payout


def payout_transfer_id(payout_id: uuid.UUID | str, step: str) -> uuid.UUID:
    return uuid.uuid5(chart.PAYOUT_TRANSFERS, f"payout:{payout_id}:{step}")


Accounts = dict[tuple[str, str], int]  # (currency, chart code) -> ledger account id


def accounts_for(payouts: Iterable[Payout]) -> Accounts:
    """The ids of every account these payouts' transfers post to, in one query (ledger.chart.
    accounts), made on first use."""
    pairs = set()
    for payout in payouts:
        for code in (
            chart.seller_available(payout.seller_id),
            chart.PAYOUTS_IN_TRANSIT,
            chart.BANK,
        ):
            pairs.add((payout.currency, code))
    return chart.accounts(pairs)


def _request(
    payout: Payout, accounts: Accounts, step: str, debit: str, credit: str, reason: str, **kw
) -> TransferRequest:
    return TransferRequest(
        id=payout_transfer_id(payout.pk, step),
        debit_account_id=accounts[(payout.currency, debit)],
        credit_account_id=accounts[(payout.currency, credit)],
        amount_minor=kw.pop("amount_minor", payout.amount_minor),
        currency=payout.currency,
        reason=reason,
        reference=f"payout:{payout.pk}",
        metadata={
            "payout": str(payout.pk),
            "batch": str(payout.batch_id),
            "seller": payout.seller_id,
        },
        **kw,
    )


def prepare_accounts(pairs: Iterable[tuple[int, str]]) -> None:
    """Look up, making them on first use, the accounts the reserves of these (seller, currency)
    pairs post to: before the transaction that takes the payouts' row locks, since two of them
    each making an account the other also makes (a new currency's payouts_in_transit) deadlock."""
    chart.accounts(
        (currency, code)
        for seller_id, currency in pairs
        for code in (chart.seller_available(seller_id), chart.PAYOUTS_IN_TRANSIT)
    )


def reserve(payouts: list[Payout]) -> None:
    """The pending transfers of these payouts, one linked ledger batch (all or none: BatchFailed
    names the one refused)."""
    if not payouts:
        return
    accounts = accounts_for(payouts)
    create_transfers(
        [
            _request(
                payout,
                accounts,
                "reserve",
                chart.seller_available(payout.seller_id),
                chart.PAYOUTS_IN_TRANSIT,
                "payout_reserved",
                kind=TransferKind.PENDING,
            )
            for payout in payouts
        ]
    )


def _close_reserve(
    payout: Payout, accounts: Accounts, step: str, reason: str, kind: str
) -> TransferRequest:
    """Post or void the payout's reserve, for its whole amount."""
    return _request(
        payout,
        accounts,
        step,
        chart.seller_available(payout.seller_id),
        chart.PAYOUTS_IN_TRANSIT,
        reason,
        kind=kind,
        pending_id=payout_transfer_id(payout.pk, "reserve"),
        amount_minor=None,
    )


def settle(payout: Payout, accounts: Accounts) -> list[TransferRequest]:
    """Post the reserve, and pay the money out of transit to the bank."""
    return [
        _close_reserve(payout, accounts, "post", "payout_posted", TransferKind.POST_PENDING),
        _request(payout, accounts, "paid", chart.PAYOUTS_IN_TRANSIT, chart.BANK, "payout_paid"),
    ]


def void(payout: Payout, accounts: Accounts) -> list[TransferRequest]:
    """Give the reserve back to the seller's available balance."""
    return [_close_reserve(payout, accounts, "void", "payout_voided", TransferKind.VOID_PENDING)]


def give_back(payout: Payout, accounts: Accounts) -> list[TransferRequest]:
    """The seller's bank sent a paid transfer back: the money is the seller's again."""
    return [
        _request(
            payout,
            accounts,
            "return",
            chart.BANK,
            chart.seller_available(payout.seller_id),
            "payout_returned",
        )
    ]


def post(requests: list[TransferRequest]) -> None:
    """Post the requests of settle, void and give_back, one linked ledger batch (all or none).

    Callers make it the last statement of their transaction: it locks
    platform:payouts_in_transit (a never-negative account), which every payout's answer touches;
    the shorter that row lock is held, the more answers commit per second."""
    if requests:
        create_transfers(requests)
