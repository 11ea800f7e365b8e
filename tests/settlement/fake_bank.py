"""An in-memory BankGateway for the payout state machine's unit tests: idempotent on the payout id
like a real bank, with switches for the faults the state machine must survive. The contract suite
(test_gateway_contract.py) holds the real sandbox bank to the same behaviour."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace

from settlement.gateways.base import (
    BankCallback,
    BankGateway,
    BankUnavailable,
    CreditTransfer,
    TransferResult,
)


class FakeBank(BankGateway):
    name = "fake"

    def __init__(self, *, settle_as: str = "accepted") -> None:
        self.transfers: dict[str, TransferResult] = {}
        self.submits = 0
        self.settle_as = settle_as
        # Faults: fail the next call before doing anything, or after doing the work.
        self.down = False
        self.lose_answer = False
        self._lock = threading.Lock()

    def submit(self, transfer: CreditTransfer) -> TransferResult:
        if self.down:
            raise BankUnavailable("the bank is down")
        with self._lock:
            self.submits += 1
            known = self.transfers.get(transfer.payout_id)
            if known is None:
                known = TransferResult(
                    status=self.settle_as,
                    payout_id=transfer.payout_id,
                    bank_reference=f"BANK-{len(self.transfers) + 1}",
                    amount_minor=transfer.amount_minor,
                    currency=transfer.currency,
                    failure_code="invalid_account" if self.settle_as == "rejected" else "",
                    occurred_at=self.now(),
                )
                self.transfers[transfer.payout_id] = known
        if self.lose_answer:
            raise BankUnavailable("timed out after the bank took it")
        return known

    def status(self, *, payout_id: str) -> TransferResult | None:
        if self.down:
            raise BankUnavailable("the bank is down")
        return self.transfers.get(payout_id)

    @staticmethod
    def now() -> dt.datetime:
        """The bank's clock: the time of each state it reports (TransferResult.occurred_at)."""
        return dt.datetime.now(dt.UTC)

    def settle(self, payout_id: str, status: str, failure_code: str = "") -> TransferResult:
        """The bank finishes a transfer (what its callback would then report)."""
        self.transfers[payout_id] = replace(
            self.transfers[payout_id],
            status=status,
            failure_code=failure_code,
            occurred_at=self.now(),
        )
        return self.transfers[payout_id]

    def handle_callback(self, *, headers, body) -> BankCallback:  # pragma: no cover - unused
        raise NotImplementedError

    def statement(self, *, day: dt.date) -> bytes:  # pragma: no cover - unused
        raise NotImplementedError
