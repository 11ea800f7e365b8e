"""Concurrency on PostgreSQL: separate processes, each with its own connection, on committed data.

The processes start together (a stdin barrier) and post against the same hot accounts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from django.conf import settings as django_settings
from django.db import connection

from ledger.models import Transfer
from ledger.selectors import Balance, account_balance, trial_balance
from ledger.services import create_transfer
from tests.ledger.factories import DEBIT_LIMIT, account, request

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_TIMEOUT_S = 600


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def run_workers(specs: list[dict]) -> list[dict]:
    """Start one process per spec, release them together, return their reports."""
    env = {
        **__import__("os").environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_QUIET_LOGS": "1",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.concurrency_worker", json.dumps(spec)],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, _ = process.communicate(timeout=WORKER_TIMEOUT_S)
            assert process.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for report in reports:
        assert report["unexpected"] == []
    print("retries per process:", [report["retries"] for report in reports])
    return reports


def expected_counters(transfers: list[dict]) -> dict[int, list[int]]:
    """Recompute (dp, dpo, cp, cpo) per account from accepted transfers."""
    by_id = {t["id"]: t for t in transfers}
    counters: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for t in transfers:
        debit, credit = counters[t["debit"]], counters[t["credit"]]
        if t["kind"] == "posted":
            debit[1] += t["amount"]
            credit[3] += t["amount"]
        elif t["kind"] == "pending":
            debit[0] += t["amount"]
            credit[2] += t["amount"]
        else:
            held = by_id[t["pending_id"]]["amount"]
            debit[0] -= held
            credit[2] -= held
            if t["kind"] == "post_pending":
                debit[1] += t["amount"]
                credit[3] += t["amount"]
    return counters


def as_tuple(balance: Balance) -> list[int]:
    return [
        balance.debits_pending,
        balance.debits_posted,
        balance.credits_pending,
        balance.credits_posted,
    ]


def test_eight_processes_on_five_hot_accounts_with_limits():
    source = account("external:card")
    hot = [account(f"hot:{i}", limit=DEBIT_LIMIT) for i in range(5)]
    funding = [create_transfer(request(source, h, 2_000, reason="fund")) for h in hot]
    hot_ids = [h.id for h in hot]

    reports = run_workers(
        [
            {
                "mode": "random",
                "seed": seed,
                "count": 500,
                "hot": hot_ids,
                "source": source.id,
            }
            for seed in range(8)
        ]
    )

    accepted = [t for report in reports for t in report["accepted"]]
    refused = defaultdict(int)
    for report in reports:
        for code, count in report["refused"].items():
            refused[code] += count
    assert set(refused) <= {"exceeds_limit"}  # the only refusal this workload can meet
    assert len(accepted) > 500  # the run did real work, not only refusals
    everything = [
        {
            "id": str(t.id),
            "kind": "posted",
            "debit": source.id,
            "credit": t.credit_account_id,
            "amount": t.amount_minor,
            "pending_id": None,
        }
        for t in funding
    ] + accepted
    stored = set(map(str, Transfer.objects.values_list("id", flat=True)))
    assert stored == {t["id"] for t in everything}
    expected = expected_counters(everything)
    for account_id in [source.id, *hot_ids]:
        assert as_tuple(account_balance(account_id)) == expected[account_id]
    for account_id in hot_ids:
        balance = account_balance(account_id)
        assert balance.debits_pending + balance.debits_posted <= balance.credits_posted
    for totals in trial_balance().values():
        assert totals.net_posted == totals.net_pending == 0


def _fields(req) -> dict:
    return {
        "id": str(req.id),
        "debit_account_id": req.debit_account_id,
        "credit_account_id": req.credit_account_id,
        "amount_minor": req.amount_minor,
        "currency": req.currency,
        "reason": req.reason,
        "kind": req.kind,
        "pending_id": str(req.pending_id) if req.pending_id else None,
    }


def test_same_transfer_ids_from_two_processes_take_effect_once():
    source = account("external:card")
    limited = account("platform:escrow", limit=DEBIT_LIMIT)
    plain = account("platform:fees")
    requests = [request(source, limited, 10 + i) for i in range(100)] + [
        request(source, plain, 1_000 + i, kind="pending") for i in range(100)
    ]
    spec = {
        "mode": "requests",
        "requests": [_fields(r) for r in requests],
    }

    first, second = run_workers([spec, spec])

    # Each process sees every request succeed: applied by one, replayed by the other.
    assert first["outcomes"] == second["outcomes"] == ["ok"] * len(requests)
    assert Transfer.objects.count() == len(requests)
    assert first["accepted"] == second["accepted"]
    assert account_balance(limited.id) == Balance(0, 0, 0, sum(10 + i for i in range(100)))
    assert account_balance(plain.id) == Balance(0, 0, sum(1_000 + i for i in range(100)), 0)


def test_concurrent_closes_of_one_pending_one_wins():
    source = account("external:card")
    limited = account("platform:escrow", limit=DEBIT_LIMIT)
    plain = account("platform:fees")  # no limit: no lock at all, only the unique index
    pendings = [
        create_transfer(request(source, credit, 100 + i, kind="pending"))
        for i, credit in enumerate([limited, plain] * 60)
    ]

    def closes(kind: str, ids: list[uuid.UUID]) -> list[dict]:
        return [
            _fields(
                request(
                    p.debit_account_id,
                    p.credit_account_id,
                    None,
                    id=close_id,
                    kind=kind,
                    pending_id=p.id,
                )
            )
            for p, close_id in zip(pendings, ids, strict=True)
        ]

    post_ids = [uuid.uuid4() for _ in pendings]
    void_ids = [uuid.uuid4() for _ in pendings]
    poster, same_poster, voider = run_workers(
        [
            {"mode": "requests", "requests": closes("post_pending", post_ids)},
            {"mode": "requests", "requests": closes("post_pending", post_ids)},
            {"mode": "requests", "requests": closes("void_pending", void_ids)},
        ]
    )

    wins = {"post": 0, "void": 0}
    for i, pending in enumerate(pendings):
        closing = list(Transfer.objects.filter(pending=pending))
        assert len(closing) == 1
        if closing[0].id == post_ids[i]:
            wins["post"] += 1
            assert poster["outcomes"][i] == same_poster["outcomes"][i] == "ok"
            assert voider["outcomes"][i] == "pending_already_closed"
        else:
            assert closing[0].id == void_ids[i]
            wins["void"] += 1
            assert voider["outcomes"][i] == "ok"
            assert poster["outcomes"][i] == same_poster["outcomes"][i] == "pending_already_closed"
    posted_to = defaultdict(int)
    for pending in pendings:
        closing = Transfer.objects.get(pending=pending)
        if closing.kind == "post_pending":
            posted_to[pending.credit_account_id] += pending.amount_minor
    for credit in (limited, plain):
        assert account_balance(credit.id) == Balance(0, 0, 0, posted_to[credit.id])
    assert sum(wins.values()) == len(pendings)
