"""Payouts as a pain.001.001.09 credit-transfer file, for banks that take files instead of an
API: staff download it from the admin (settlement/admin.py). Each payout is one line, its end-to-
end id the payout's bank_id, so the bank's statement (camt.053) names it back. Same payouts, same
file: the message id is derived from the payouts' ids."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from django.conf import settings

from core.errors import ValidationError
from settlement.iso20022.pain001 import CreditTransferLine, Party, credit_transfer_file
from settlement.models import Payout


def platform_account() -> Party:
    account = settings.CLEARHOUSE_PLATFORM_BANK_ACCOUNT
    return Party(name=account["name"], iban=account["iban"], bic=account.get("bic", ""))


def pain001_for(
    payouts: Sequence[Payout], *, created_at: dt.datetime, execution_date: dt.date
) -> bytes:
    """The file paying `payouts` (any currencies: one payment block per currency)."""
    if not payouts:
        raise ValidationError("Select at least one payout.", field="payouts")
    ids = sorted(payout.bank_id for payout in payouts)
    message_id = "CH" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:30]
    return credit_transfer_file(
        message_id=message_id,
        created_at=created_at,
        debtor=platform_account(),
        payments=[
            CreditTransferLine(
                end_to_end_id=payout.bank_id,
                amount_minor=payout.amount_minor,
                currency=payout.currency,
                creditor_name=payout.creditor_name,
                creditor_iban=payout.iban,
                creditor_bic=payout.bic,
                creditor_routing_number=payout.routing_number,
                creditor_account_number=payout.account_number,
                remittance=f"Clearhouse payout {payout.bank_id[:8]}",
            )
            for payout in sorted(payouts, key=lambda p: (p.currency, p.bank_id))
        ],
        requested_execution_date=execution_date,
    )
