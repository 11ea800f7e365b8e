"""Calling the payment functions in PostgreSQL: one statement, retried whole on a deadlock or a
serialization failure (as ledger.services._post does), and rows they wrote made into model
instances without reading them back.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.fast_sql import fetch_all as fast_call

logger = logging.getLogger(__name__)


_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure

MAX_ATTEMPTS = 4


def sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def as_json(value: Any) -> Any:
    # Django loads jsonb as text (JSONField decodes it); accept either.
    return json.loads(value) if isinstance(value, str | bytes) else value


def call(sql: str, params: list) -> list[tuple]:
    """One statement: its own transaction in autocommit, a savepoint inside the caller's (so a
    failure leaves the caller's work intact). Deadlocks and serialization failures are retried
    whole, as ledger.services._post does."""
    conn = connections[DEFAULT_DB_ALIAS]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if conn.in_atomic_block or not conn.get_autocommit():
                with transaction.atomic():
                    return fast_call(sql, params)
            return fast_call(sql, params)
        except DatabaseError as exc:
            if sqlstate(exc) not in _RETRY_SQLSTATES or attempt == MAX_ATTEMPTS:
                raise
            logger.info("payment fast path retry %d after %s", attempt, sqlstate(exc))
            time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable")


def persisted(instance):
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    return instance
