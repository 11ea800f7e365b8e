"""The chart of accounts: every ledger account code the platform posts to, the limit each is
created with, and the uuid5 namespaces of transfer ids. Nothing else spells them.

Per currency:

    external:<provider>         money at a payment provider (cards, wallets, the bank for transfers)
    platform:bank_receipts      bank transfers received, before they are held for an order
    platform:escrow             buyers' money held until release
    platform:fees               the platform's fees
    seller:<id>:pending         released to a seller, waiting for its hold period
    seller:<id>:available       a seller's money that payouts may take; may go below zero (a
                                refund after release finds it short) and is then recovered from
                                later settlements first
    seller:<id>:reserve         a rolling reserve: part of what matured, held for the plan's days
    platform:payouts_in_transit payouts submitted to the bank and not yet paid
    external:bank               money that left the platform's bank account to sellers' banks
    platform:recon_adjustments  the other side of staff's reconciliation adjustments: what the
                                bank and the ledger disagree on, corrected with a reason
                                (settlement/reconciliation/adjustments.py)
    platform:fx:<ccy>           the platform's position in <ccy> from converting sellers' money
                                (credited with what it bought, debited with what it paid out); the
                                code names the account's own currency, so platform:fx:EUR exists
                                in EUR only. A conversion posts one transfer in each currency
                                (seller:<id>:available(C) -> platform:fx:C, platform:fx:S ->
                                seller:<id>:available(S)), so every currency still sums to zero.

The namespaces are persisted idempotency keys (a transfer's id is uuid5(namespace, name)): a
changed namespace would post again what was posted. Never change one.

The ledger itself knows no orders or sellers: these are names, and the ids in them are opaque.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """The limit an account is created with (fixed at creation)."""

    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False


NO_LIMIT = Limit()
# A credit-normal account that can never go below zero, whatever runs at the same time.
NEVER_NEGATIVE = Limit(debits_must_not_exceed_credits=True)

BANK_RECEIPTS = "platform:bank_receipts"
ESCROW = "platform:escrow"
FEES = "platform:fees"
PAYOUTS_IN_TRANSIT = "platform:payouts_in_transit"
BANK = "external:bank"
RECON_ADJUSTMENTS = "platform:recon_adjustments"

# Buyers' money in escrow, money received by bank transfer and money in transit to sellers' banks
# can never go below zero, whatever the application checks: the ledger refuses the posting. On
# escrow the limit makes every payment's posting lock its one row per currency; measured with
# bench_checkout (three full runs each, same hour, 2 vCPU) p1 was 0.237/0.315/0.297 with the limit
# and 0.258/0.303/0.258 without, so it costs no measurable throughput (docs/benchmarks.md).
_LIMITS: dict[str, Limit] = {
    BANK_RECEIPTS: NEVER_NEGATIVE,
    PAYOUTS_IN_TRANSIT: NEVER_NEGATIVE,
    ESCROW: NEVER_NEGATIVE,
}


def external(provider: str) -> str:
    return f"external:{provider}"


def seller_pending(seller_id: object) -> str:
    return f"seller:{seller_id}:pending"


def seller_available(seller_id: object) -> str:
    return f"seller:{seller_id}:available"


def seller_reserve(seller_id: object) -> str:
    return f"seller:{seller_id}:reserve"


def fx(currency: str) -> str:
    """The platform's currency-conversion account in `currency` (open it in that currency)."""
    return f"platform:fx:{currency}"


_CODE_PATTERNS = (
    re.compile(r"platform:(bank_receipts|escrow|fees|payouts_in_transit|recon_adjustments)"),
    re.compile(r"external:[a-z][a-z0-9_]*"),
    re.compile(r"seller:[0-9]+:(pending|available|reserve)"),
    re.compile(r"platform:fx:[A-Z]{3}"),
)


def is_chart_code(code: str) -> bool:
    """Whether `code` is one this chart names."""
    return any(pattern.fullmatch(code) for pattern in _CODE_PATTERNS)


def limit_of(code: str) -> Limit:
    return _LIMITS.get(code, NO_LIMIT)


def _spec(currency: str, code: str) -> tuple[str, str, bool, bool]:
    """(currency, code, limit flags) of a chart account; AssertionError for a code not in it."""
    assert is_chart_code(code), f"{code} is not in the chart of accounts"
    assert not code.startswith("platform:fx:") or code == fx(currency), (
        f"{code} is an account of its own currency, not of {currency}"
    )
    limit = limit_of(code)
    return (
        currency,
        code,
        limit.debits_must_not_exceed_credits,
        limit.credits_must_not_exceed_debits,
    )


def account(*, currency: str, code: str) -> int:
    """The id of the account (currency, code), created on first use with the chart's limit."""
    # Here, not at the top: ledger.services imports this module's TIMEOUT_VOIDS.
    from ledger.services import account_id

    currency, code, debits_limit, credits_limit = _spec(currency, code)
    return account_id(
        currency=currency,
        code=code,
        debits_must_not_exceed_credits=debits_limit,
        credits_must_not_exceed_debits=credits_limit,
    )


def accounts(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """account() for each (currency, code) pair, keyed by the pair: one query for those this
    process has not seen yet."""
    from ledger.services import account_ids

    return account_ids([_spec(currency, code) for currency, code in set(pairs)])


# --- transfer-id namespaces (persisted: never change one) --------------------------------------

# Holds, captures, voids and bank arrivals of payments: uuid5(PAYMENT, "payment:<id>:sub_order:
# <id>:<step>") and uuid5(PAYMENT, "bank_arrival:<bank transaction id>").
PAYMENT_TRANSFERS = uuid.UUID("5f0c2a8e-6a55-4c1e-9d0e-6d1f1a6c7b21")
# Escrow release of a sub-order: uuid5(RELEASE, "sub_order:<id>:<step>").
RELEASE_TRANSFERS = uuid.UUID("0d7c8f43-51a4-4a8e-b7f5-3f0f9c2b6e11")
# Refunds: uuid5(REFUND, "refund:<id>:<step>").
REFUND_TRANSFERS = uuid.UUID("9a4e2b1c-7d3f-4e8a-a6b5-1c2d3e4f5a6b")
# The ledger's own voids of pending transfers that timed out: uuid5(TIMEOUT_VOIDS,
# "timeout-void:<pending id>").
TIMEOUT_VOIDS = uuid.UUID("5b0c6f2e-8f0a-4a53-9d0e-2f4b8c1e7a10")
# A seller's money maturing after the hold period (pending -> available, and the reserve's part):
# uuid5(MATURATION, "release:<release transfer id>:<step>").
MATURATION_TRANSFERS = uuid.UUID("3c6f1d52-0b7e-4f2a-9e81-5d4a7c2b9f30")
# Payouts to sellers' banks: uuid5(PAYOUT, "payout:<id>:<step>").
PAYOUT_TRANSFERS = uuid.UUID("b81e4c07-2d9a-4c55-8f13-6a0e9d7b4c28")
# Conversions of a seller's money into the settlement currency: uuid5(FX, "fx:seller:<id>:<source
# currency>:log:<from>-<to>") for the conversion and the same name + ":<step>" for its transfers.
FX_TRANSFERS = uuid.UUID("6056924a-5665-478c-836f-14c2db6651d7")
# Staff's reconciliation adjustments: uuid5(ADJUSTMENT, "adjustment:<id>").
ADJUSTMENT_TRANSFERS = uuid.UUID("6f83afb0-bb92-44dc-b881-9c411fcc5c50")
