"""The sandbox bank: a simulated external bank that pays the platform's sellers.

It runs as its own process (`manage.py run_sandbox_bank`, or `python -m sandbox_bank`) with its own
SQLite database, and speaks HTTP + JSON to the platform like a real bank's API would:

- accounts with IBANs (schwifty), holders, currencies and balances; the platform's own accounts
  (one per currency) are opened on first use;
- credit transfers (payouts), idempotent on the payout id, accepted at once and settled, rejected
  or returned later by a background thread (`clearing.py`);
- every platform request signed with Ed25519 (`auth.py`); callbacks to the platform signed in the
  Standard Webhooks format and retried until answered 2xx (`callbacks.py`);
- camt.053 statements of the platform's accounts for any day (`camt053.py`);
- buyers' incoming transfers by RF reference, and fault knobs (`faults.py`).

It imports nothing from the platform's apps but core.crypto's signature check (the project's one
cryptography module; an import-linter contract allows that and nothing else): the two sides share
only the wire format, as they would with a real bank. docs/sandbox_bank.md describes
the API.
"""
