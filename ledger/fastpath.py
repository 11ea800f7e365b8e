"""Deprecated: what is left of the ledger's "fast path" module, for callers outside ledger/.

Posting has one implementation now, the PL/pgSQL function called by ledger/posting.py; there is
no other path to switch to. Import REFUSAL_SQLSTATE from ledger.posting, and drop calls of
fast_path_enabled() (always True). This module goes once nothing imports it.
"""

from __future__ import annotations

from ledger.posting import REFUSAL_SQLSTATE

__all__ = ["REFUSAL_SQLSTATE", "fast_path_enabled"]


def fast_path_enabled() -> bool:
    """Deprecated, always True: the PL/pgSQL posting is the only one (ledger/posting.py)."""
    return True
