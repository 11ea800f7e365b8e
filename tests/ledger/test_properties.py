"""Property-based: random sequences of posts, pendings, partial posts, voids, batches and invalid
requests, checked after every step against an independent in-memory model of TigerBeetle's rules.

After each step: the balances equal the model's, the trial balance is zero, every limit holds, and
a refused operation changed nothing. At the end the counters equal a recomputation from the
transfers, before and after the deltas are folded.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import errors
from ledger.requests import TransferRequest
from ledger.selectors import _balance_from_transfers, account_balance, trial_balance
from ledger.services import create_transfer, create_transfers, ledger_fold_deltas
from tests.ledger.factories import CREDIT_LIMIT, DEBIT_LIMIT, account, snapshot

pytestmark = pytest.mark.django_db

# Account slots: 0 and 4 without limit, 1 and 2 debit-limited, 3 credit-limited, 5 in EUR.
SLOTS = [
    ("USD", None),
    ("USD", DEBIT_LIMIT),
    ("USD", DEBIT_LIMIT),
    ("USD", CREDIT_LIMIT),
    ("USD", None),
    ("EUR", None),
]
MISSING = -1  # slot for an account id that does not exist


@dataclass
class Model:
    """TigerBeetle's rules, written independently of ledger/ (the oracle)."""

    accounts: dict[int, dict]
    transfers: dict[uuid.UUID, dict] = field(default_factory=dict)
    closed: set = field(default_factory=set)

    def apply(self, requests: list[TransferRequest]) -> tuple[int, str] | None:
        """Apply all or none; return (index, error code) of the refusal, or None."""
        ids = [r.id for r in requests]
        for index, r in enumerate(requests):
            # Shape first, then "appears twice", request by request.
            if r.debit_account_id == r.credit_account_id:
                return index, "same_account"
            amount = r.amount_minor
            needs_amount = r.kind in ("posted", "pending") or (
                r.kind == "post_pending" and amount is not None
            )
            if needs_amount and (
                not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0
            ):
                return index, "invalid_amount"
            if r.id in ids[:index]:
                return index, "invalid_transfer"
        for index, r in enumerate(requests):
            stored = self.transfers.get(r.id)
            if stored and not self._same(stored, r):
                return index, "transfer_exists"
        accounts = copy.deepcopy(self.accounts)
        closed = set(self.closed)
        new: dict[uuid.UUID, dict] = {}
        for index, r in enumerate(requests):
            if r.id in self.transfers:
                continue
            debit = accounts.get(r.debit_account_id)
            credit = accounts.get(r.credit_account_id)
            if debit is None or credit is None:
                return index, "account_not_found"
            if debit["currency"] != r.currency or credit["currency"] != r.currency:
                return index, "currency_mismatch"
            amount = r.amount_minor
            if r.kind in ("post_pending", "void_pending"):
                pending = self.transfers.get(r.pending_id) or new.get(r.pending_id)
                if pending is None:
                    return index, "pending_not_found"
                if pending["kind"] != "pending":
                    return index, "pending_not_found"  # pending_not_pending, same class
                if (pending["debit"], pending["credit"], pending["currency"]) != (
                    r.debit_account_id,
                    r.credit_account_id,
                    r.currency,
                ):
                    return index, "pending_mismatch"
                if r.pending_id in closed:
                    return index, "pending_already_closed"
                if r.kind == "post_pending":
                    amount = pending["amount"] if amount is None else amount
                    if amount > pending["amount"]:
                        return index, "exceeds_pending_amount"
                    debit["dpo"] += amount
                    credit["cpo"] += amount
                else:
                    amount = pending["amount"]
                debit["dp"] -= pending["amount"]
                credit["cp"] -= pending["amount"]
                closed.add(r.pending_id)
            elif r.kind == "pending":
                debit["dp"] += amount
                credit["cp"] += amount
            else:
                debit["dpo"] += amount
                credit["cpo"] += amount
            for acc in (debit, credit):
                if acc["limit"] == DEBIT_LIMIT and acc["dp"] + acc["dpo"] > acc["cpo"]:
                    return index, "exceeds_limit"
                if acc["limit"] == CREDIT_LIMIT and acc["cp"] + acc["cpo"] > acc["dpo"]:
                    return index, "exceeds_limit"
            new[r.id] = {
                "kind": r.kind,
                "debit": r.debit_account_id,
                "credit": r.credit_account_id,
                "currency": r.currency,
                "amount": amount,
                "pending_id": r.pending_id,
                "reason": r.reason,
            }
        self.accounts = accounts
        self.closed = closed
        self.transfers.update(new)
        return None

    def _same(self, stored: dict, r: TransferRequest) -> bool:
        if (stored["kind"], stored["debit"], stored["credit"], stored["currency"]) != (
            r.kind,
            r.debit_account_id,
            r.credit_account_id,
            r.currency,
        ):
            return False
        if stored["pending_id"] != r.pending_id or stored["reason"] != r.reason:
            return False
        if r.kind == "void_pending":
            return True
        expected = r.amount_minor
        if expected is None and r.kind == "post_pending":
            expected = self.transfers[r.pending_id]["amount"]
        return stored["amount"] == expected


# --- the operations hypothesis draws -------------------------------------------------------

slot = st.integers(0, len(SLOTS) - 1)
good_amount = st.integers(1, 120)
bad_amount = st.sampled_from([0, -3, 1.5, True, "7"])
any_ref = st.integers(0, 10_000)  # picks an earlier request (any kind) modulo how many exist

# Mostly routes that can succeed (same currency, two accounts), sometimes any pair.
ROUTES = [(0, 1), (0, 2), (1, 2), (2, 1), (1, 4), (2, 4), (3, 0), (3, 4), (4, 1), (1, 3), (2, 3)]
route = st.one_of(st.sampled_from(ROUTES), st.sampled_from(ROUTES), st.tuples(slot, slot))
new_transfer = st.tuples(
    st.just("new"),
    st.sampled_from(["posted", "pending", "pending"]),
    route,
    st.sampled_from(["good"] * 6 + ["bad"]).flatmap(
        lambda kind: good_amount if kind == "good" else bad_amount
    ),
)
close_op = st.tuples(
    st.just("close"),
    st.sampled_from(["post_pending", "void_pending"]),
    any_ref,
    # None = full; or a share of the pending amount (over = one more); or a bad amount
    st.sampled_from([None, None, "half", "half", "all", "one", "over", 0, 1.5, True]),
    st.sampled_from([False, False, False, True]),  # name another account than the pending's
    st.sampled_from([True, True, True, False]),  # aim at a pending (else any earlier request)
)
# Money in: limited accounts start empty, so most sequences need funding to do anything.
fund_op = st.tuples(st.just("fund"), st.sampled_from([1, 2, 3]), st.integers(50, 400))
replay_op = st.tuples(st.just("replay"), any_ref, st.booleans())  # True: change the amount
missing_op = st.tuples(st.just("missing"), slot, good_amount)
# Right at a limit: the available amount of a limited account, one less, or one more.
edge_op = st.tuples(
    st.just("edge"),
    st.sampled_from([1, 2, 3]),
    st.sampled_from(["posted", "pending"]),
    st.sampled_from([-1, 0, 1]),
)
# Weighted by repetition (sampled_from keeps duplicates, one_of may not).
STRATEGIES = {
    "fund": fund_op,
    "new": new_transfer,
    "close": close_op,
    "edge": edge_op,
    "replay": replay_op,
    "missing": missing_op,
}
single = st.sampled_from(
    ["fund"] * 2 + ["new"] * 3 + ["close"] * 3 + ["edge", "replay", "missing"]
).flatmap(STRATEGIES.__getitem__)
operation = st.sampled_from(["single"] * 5 + ["batch"]).flatmap(
    lambda kind: (
        single
        if kind == "single"
        else st.tuples(st.just("batch"), st.lists(single, min_size=2, max_size=4))
    )
)


class Scenario:
    def __init__(self, account_ids: list[int]):
        self.ids = account_ids
        self.model = Model(
            {
                account_id: {
                    "currency": currency,
                    "limit": limit,
                    "dp": 0,
                    "dpo": 0,
                    "cp": 0,
                    "cpo": 0,
                }
                for account_id, (currency, limit) in zip(account_ids, SLOTS, strict=True)
            }
        )
        self.history: list[TransferRequest] = []
        self.batch_ids: set[uuid.UUID] = set()

    def build(self, op) -> TransferRequest:
        kind = op[0]
        if kind == "new":
            _, transfer_kind, (d, c), amount = op
            currency = SLOTS[d][0]
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=self.ids[d],
                credit_account_id=self.ids[c],
                amount_minor=amount,
                currency=currency,
                reason="prop",
                kind=transfer_kind,
            )
        if kind == "edge":
            _, limited, transfer_kind, step = op
            state = self.model.accounts[self.ids[limited]]
            if state["limit"] == DEBIT_LIMIT:
                available = state["cpo"] - state["dpo"] - state["dp"]
                debit, credit = self.ids[limited], self.ids[0]
            else:
                available = state["dpo"] - state["cpo"] - state["cp"]
                debit, credit = self.ids[0], self.ids[limited]
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=max(1, available + step),
                currency="USD",
                reason="prop",
                kind=transfer_kind,
            )
        if kind == "fund":
            _, limited, amount = op
            debit, credit = (self.ids[0], self.ids[limited])
            if SLOTS[limited][1] == CREDIT_LIMIT:
                debit, credit = credit, debit
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=amount,
                currency="USD",
                reason="fund",
            )
        if kind == "missing":
            _, c, amount = op
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=10**12,
                credit_account_id=self.ids[c],
                amount_minor=amount,
                currency=SLOTS[c][0],
                reason="prop",
            )
        if not self.history:
            return self.build(("new", "posted", (0, 1), 50))
        if kind == "close":
            _, close_kind, ref, share, other_account, aim_at_pending = op
            open_pendings = [
                r
                for r in self.history
                if r.kind == "pending"
                and (r.id in self.batch_ids or r.id in self.model.transfers)
                and r.id not in self.model.closed
            ]
            targets = open_pendings if aim_at_pending and open_pendings else self.history
            target = targets[ref % len(targets)]
            amount = share
            if isinstance(share, str):
                held = target.amount_minor if isinstance(target.amount_minor, int) else 10
                amount = {"half": max(1, held // 2), "all": held, "over": held + 1, "one": 1}[share]
            credit = target.credit_account_id
            if other_account:
                credit = self.ids[4] if credit != self.ids[4] else self.ids[0]
            return TransferRequest(
                id=uuid.uuid4(),
                debit_account_id=target.debit_account_id,
                credit_account_id=credit,
                amount_minor=amount,
                currency=target.currency,
                reason="prop",
                kind=close_kind,
                pending_id=target.id,
            )
        _, ref, change = op
        target = self.history[ref % len(self.history)]
        again = copy.copy(target)
        if change:
            again.amount_minor = (
                target.amount_minor + 1 if isinstance(target.amount_minor, int) else 5
            )
            if again.kind == "void_pending":
                again.reason = "changed"
        return again

    def step(self, op) -> None:
        if op[0] == "batch":
            # Members join the history as they are built, so later ones may close (or repeat)
            # earlier ones of the same batch.
            requests = []
            for sub in op[1]:
                requests.append(self.build(sub))
                self.history.append(requests[-1])
                self.batch_ids.add(requests[-1].id)
            self.batch_ids.clear()
            self._run(requests, batch=True)
        else:
            request = self.build(op)
            self.history.append(request)
            self._run([request], batch=False)

    def _run(self, requests, *, batch: bool) -> None:
        expected = self.model.apply(requests)
        before = snapshot() if expected is not None else None
        if expected is None:
            result = create_transfers(requests) if batch else [create_transfer(requests[0])]
            assert [t.id for t in result] == [r.id for r in requests]
        else:
            index, code = expected
            with pytest.raises(errors.LedgerError) as failure:
                if batch:
                    create_transfers(requests)
                else:
                    create_transfer(requests[0])
            error = failure.value
            if batch:
                assert isinstance(error, errors.BatchFailed)
                assert error.index == index
                error = error.reason
            assert error.code == code, (error.code, code, error.message)
            assert snapshot() == before
        self.check()

    def check(self) -> None:
        for account_id, expected in self.model.accounts.items():
            balance = account_balance(account_id)
            assert (
                balance.debits_pending,
                balance.debits_posted,
                balance.credits_pending,
                balance.credits_posted,
            ) == (expected["dp"], expected["dpo"], expected["cp"], expected["cpo"])
            if expected["limit"] == DEBIT_LIMIT:
                assert balance.debits_pending + balance.debits_posted <= balance.credits_posted
            if expected["limit"] == CREDIT_LIMIT:
                assert balance.credits_pending + balance.credits_posted <= balance.debits_posted
        for totals in trial_balance().values():
            assert totals.net_posted == 0
            assert totals.net_pending == 0

    def check_recomputation(self) -> None:
        from django.db.models import Q

        for account_id in self.ids:
            assert account_balance(account_id) == _balance_from_transfers(account_id, Q())


class _Rollback(Exception):
    pass


def run_scenario(operations) -> None:
    """One example in its own transaction, rolled back after, so examples do not see each other."""
    try:
        with transaction.atomic():
            ids = [
                account(f"prop:{i}:{uuid.uuid4().hex[:8]}", currency=currency, limit=limit).id
                for i, (currency, limit) in enumerate(SLOTS)
            ]
            scenario = Scenario(ids)
            for op in operations:
                scenario.step(op)
            scenario.check_recomputation()
            ledger_fold_deltas()
            scenario.check()
            scenario.check_recomputation()
            raise _Rollback
    except _Rollback:
        pass


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=3, max_size=30))
def test_random_sequences_keep_every_invariant(operations):
    run_scenario(operations)


def test_model_rejects_what_the_examples_expect():
    """The oracle itself: a few hand-checked cases."""
    model = Model(
        {
            1: {"currency": "USD", "limit": DEBIT_LIMIT, "dp": 0, "dpo": 0, "cp": 0, "cpo": 0},
            2: {"currency": "USD", "limit": None, "dp": 0, "dpo": 0, "cp": 0, "cpo": 0},
        }
    )
    spend = TransferRequest(uuid.uuid4(), 1, 2, 10, "USD", "r")
    assert model.apply([spend]) == (0, "exceeds_limit")
    fund = TransferRequest(uuid.uuid4(), 2, 1, 10, "USD", "r")
    assert model.apply([fund, spend]) is None
    assert model.accounts[1]["cpo"] == model.accounts[1]["dpo"] == 10
