"""After the drill: the bank's own records (read through its API, never the platform's tables)
against the platform's payout rows and ledger, and `ledger_verify`.

    payouts            the platform's payout rows (a batch paid again after a refusal has two)
    paid_once          batches the bank paid exactly once, that the platform shows paid
    paid_twice         batches the bank paid more than once (money sent twice): must be 0
    lost               payouts whose outcome the two sides disagree on (paid at the bank but
                       failed here, returned there but paid here, amounts that differ, a
                       transfer the platform does not know): must be 0
    stuck              payouts still created or submitted when the drill's time ran out: 0
    bank_total_minor   what the bank paid and kept paid (its transfers in status "paid")
    ledger_paid_minor  what the ledger says left for sellers' banks (external:bank's balance)
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.management import call_command
from django.core.management.base import CommandError

from ledger import chart
from ledger.selectors import account_balance
from settlement.gateways.sandbox import SandboxBankGateway
from settlement.models import Payout, PayoutEvent, PayoutStatus

MAX_CASES_SHOWN = 20
# What the bank may say of a payout in each final platform state (None: the bank never took it,
# as when it refused the request itself).
AGREES = {
    PayoutStatus.PAID: {"paid"},
    PayoutStatus.RETURNED: {"returned"},
    PayoutStatus.FAILED: {"rejected", None},
}


@dataclass
class Reconciliation:
    payouts: int = 0
    paid_once: int = 0
    paid_twice: int = 0
    lost: int = 0
    stuck: int = 0
    bank_total_minor: int = 0
    ledger_paid_minor: int = 0
    ledger_verify: str = "not run"
    # Beyond the summary line: the other checks and what each problem was.
    in_transit_minor: int = 0
    bank_account_paid_minor: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    case_details: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.paid_twice == 0
            and self.lost == 0
            and self.stuck == 0
            and self.bank_total_minor == self.ledger_paid_minor
            and self.bank_account_paid_minor in (None, self.bank_total_minor)
            and self.in_transit_minor == 0
            and self.ledger_verify == "clean"
            and not self.problems
        )

    def summary(self, seed: int) -> dict[str, object]:
        return {
            "payouts": self.payouts,
            "paid_once": self.paid_once,
            "paid_twice": self.paid_twice,
            "lost": self.lost,
            "stuck": self.stuck,
            "bank_total_minor": self.bank_total_minor,
            "ledger_paid_minor": self.ledger_paid_minor,
            "ledger_verify": self.ledger_verify,
            "seed": seed,
        }


def reconcile(
    gateway: SandboxBankGateway, *, currency: str, bank_opening_minor: int | None
) -> Reconciliation:
    result = Reconciliation()
    bank = {transfer.payout_id: transfer for transfer in gateway.transfers()}
    rows = list(
        Payout.objects.order_by("created_at").values(
            "id", "batch_id", "status", "amount_minor", "currency"
        )
    )
    result.payouts = len(rows)
    paid_at_bank: dict[object, list[str]] = defaultdict(list)
    for row in rows:
        payout_id, status = row["id"].hex, row["status"]
        result.statuses[status] = result.statuses.get(status, 0) + 1
        transfer = bank.pop(payout_id, None)
        said = None if transfer is None else transfer.status
        if said == "paid":
            paid_at_bank[row["batch_id"]].append(status)
            result.bank_total_minor += transfer.amount_minor
        if status not in AGREES:
            result.stuck += 1
            result.problems.append(f"payout {payout_id} is still {status} (bank: {said})")
            continue
        if transfer is not None and (transfer.amount_minor, transfer.currency) != (
            row["amount_minor"],
            row["currency"],
        ):
            result.lost += 1
            result.problems.append(
                f"payout {payout_id}: {row['amount_minor']} {row['currency']} here, "
                f"{transfer.amount_minor} {transfer.currency} at the bank"
            )
        elif said not in AGREES[status]:
            result.lost += 1
            result.problems.append(f"payout {payout_id} is {status} here, {said} at the bank")
    for payout_id, transfer in bank.items():
        result.lost += 1
        result.problems.append(f"the bank has {transfer.status} transfer {payout_id} unknown here")
        if transfer.status == "paid":
            result.bank_total_minor += transfer.amount_minor
    for batch_id, statuses in paid_at_bank.items():
        if len(statuses) > 1:
            result.paid_twice += 1
            result.problems.append(f"batch {batch_id} was paid {len(statuses)} times by the bank")
        elif statuses == [PayoutStatus.PAID]:
            result.paid_once += 1

    result.ledger_paid_minor = _credit_balance(currency, chart.BANK)
    transit = account_balance(chart.account(currency=currency, code=chart.PAYOUTS_IN_TRANSIT))
    result.in_transit_minor = transit.credit_balance + transit.credits_pending
    if result.in_transit_minor:
        result.problems.append(f"{result.in_transit_minor} still in payouts_in_transit")
    if bank_opening_minor is not None:
        for account in gateway.platform_accounts():
            if account.get("currency") == currency:
                result.bank_account_paid_minor = bank_opening_minor - account["balance_minor"]
        if result.bank_account_paid_minor not in (None, result.bank_total_minor):
            result.problems.append(
                f"the platform's account at the bank went down by "
                f"{result.bank_account_paid_minor}, its paid transfers sum to "
                f"{result.bank_total_minor}"
            )
    cases = PayoutEvent.objects.filter(kind="contradiction").order_by("created_at", "id")
    result.cases = cases.count()
    result.case_details = [
        f"payout {case.payout_id.hex}: {case.data}" for case in cases[:MAX_CASES_SHOWN]
    ]
    result.ledger_verify = run_ledger_verify(result.problems)
    return result


def _credit_balance(currency: str, code: str) -> int:
    return account_balance(chart.account(currency=currency, code=code)).credit_balance


def run_ledger_verify(problems: list[str]) -> str:
    """`manage.py ledger_verify`: "clean", or "failed" with its findings added to `problems`."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger_verify", quiet=True, stdout=out, stderr=err)
    except CommandError as error:
        problems.extend(line for line in err.getvalue().splitlines() if line.strip())
        problems.append(str(error))
        return "failed"
    return "clean"
