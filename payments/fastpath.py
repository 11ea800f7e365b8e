"""The payment fast path on PostgreSQL: each hot step (start a card payment, apply its
authorisation, capture) is one call of a PL/pgSQL function (payments/sql/), instead of a dozen
ORM statements. Other databases, and the cases a function declines ("fallback"), take the Python
path in payment_flows / state, which stays the reference for the rules.
(PL/pgSQL functions: payments_card_start, payments_card_authorize, payments_card_sale,
payments_sandbox_capture, payments_capture_full.)

settings.PAYMENTS_FAST_PATH = False turns it off (tests run both ways where it matters).
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from core.fast_sql import fetch_all


def fast_path_enabled() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql" and getattr(
        settings, "PAYMENTS_FAST_PATH", True
    )


# One statement on the connection's reused prepared cursor; errors are Django's (translated), so
# callers catch DatabaseError.
fast_call = fetch_all
