"""A posting process for test_concurrency: its own interpreter, its own database connection.

Usage: python -m tests.ledger.concurrency_worker '<json spec>'
Prints "ready", waits for a line on stdin (the start barrier), runs the workload, prints one JSON
line with what was accepted and refused.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import traceback
import uuid


def _outcome(error) -> str:
    from ledger.errors import BatchFailed

    if isinstance(error, BatchFailed):
        return error.reason.code
    return error.code


def _record(transfer) -> dict:
    return {
        "id": str(transfer.id),
        "kind": transfer.kind,
        "debit": transfer.debit_account_id,
        "credit": transfer.credit_account_id,
        "amount": transfer.amount_minor,
        "pending_id": str(transfer.pending_id) if transfer.pending_id else None,
    }


def run_random(spec, result) -> None:
    """Posts, pendings, closes and linked batches over a few hot accounts with limits."""
    from ledger.errors import LedgerError
    from ledger.services import TransferRequest, create_transfer, create_transfers

    rng = random.Random(spec["seed"])
    hot, source = spec["hot"], spec["source"]
    open_pendings: list = []

    def transfer(debit, credit, amount, **fields) -> TransferRequest:
        return TransferRequest(
            id=uuid.uuid4(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount_minor=amount,
            currency="USD",
            reason="concurrency",
            **fields,
        )

    for _ in range(spec["count"]):
        roll = rng.random()
        try:
            if roll < 0.1:
                created = [
                    create_transfer(transfer(source, rng.choice(hot), rng.randint(200, 900)))
                ]
            elif roll < 0.55:
                debit, credit = rng.sample(hot, 2)
                created = [create_transfer(transfer(debit, credit, rng.randint(1, 400)))]
            elif roll < 0.75:
                debit, credit = rng.sample(hot, 2)
                created = [
                    create_transfer(transfer(debit, credit, rng.randint(1, 400), kind="pending"))
                ]
                open_pendings.append(created[0])
            elif roll < 0.9 and open_pendings:
                pending = open_pendings.pop(rng.randrange(len(open_pendings)))
                kind = rng.choice(["post_pending", "void_pending"])
                amount = None
                if kind == "post_pending" and rng.random() < 0.5:
                    amount = rng.randint(1, pending.amount_minor)
                created = [
                    create_transfer(
                        transfer(
                            pending.debit_account_id,
                            pending.credit_account_id,
                            amount,
                            kind=kind,
                            pending_id=pending.id,
                        )
                    )
                ]
            else:
                batch = []
                for _ in range(3):
                    debit, credit = rng.sample(hot, 2)
                    batch.append(transfer(debit, credit, rng.randint(1, 200)))
                created = create_transfers(batch)
        except LedgerError as error:
            code = _outcome(error)
            result["refused"][code] = result["refused"].get(code, 0) + 1
            continue
        result["accepted"].extend(_record(t) for t in created)


def run_requests(spec, result) -> None:
    """Post the given requests in order; report each outcome (ok or the error code)."""
    from ledger.errors import LedgerError
    from ledger.services import TransferRequest, create_transfer

    for fields in spec["requests"]:
        request = TransferRequest(
            **{
                **fields,
                "id": uuid.UUID(fields["id"]),
                "pending_id": uuid.UUID(fields["pending_id"]) if fields.get("pending_id") else None,
            }
        )
        try:
            transfer = create_transfer(request)
        except LedgerError as error:
            result["outcomes"].append(_outcome(error))
            continue
        result["outcomes"].append("ok")
        result["accepted"].append(_record(transfer))


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()
    result = {"accepted": [], "refused": {}, "outcomes": [], "unexpected": [], "retries": 0}

    class CountRetries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            result["retries"] += 1

    retry_log = logging.getLogger("ledger.services")
    retry_log.setLevel(logging.INFO)
    retry_log.addHandler(CountRetries())
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        {"random": run_random, "requests": run_requests}[spec["mode"]](spec, result)
    except Exception:  # report anything unexpected to the test, which fails on it
        result["unexpected"].append(traceback.format_exc())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
