"""Database faults for tests, on the real PostgreSQL: a connection's backend terminated at a chosen
statement, and a session of another process (a raw connection to the test database)."""

from __future__ import annotations

import psycopg
from django.db import connection

from core.postgresql.scratch import maintenance_connection


def terminate_backend(pid: int) -> None:
    """End a backend as an operator or a failover would, and wait until it is gone."""
    with maintenance_connection(connection.settings_dict) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])


class KillAt:
    """An execute wrapper (connection.execute_wrapper) that counts the statements Django runs and
    terminates the connection's backend just before the statement numbered `at` (1-based; 0:
    never), so that statement meets a dead connection."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.count = 0
        self.statements: list[str] = []
        self.killed = False

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        self.statements.append(" ".join(str(sql).split())[:100])
        if self.count == self.at:
            self.killed = True
            terminate_backend(context["connection"].connection.info.backend_pid)
        return execute(sql, params, many, context)

    def where(self) -> str:
        return f"killed before statement {self.at}: {self.statements[self.at - 1 : self.at]}"


def finished_request() -> None:
    """What Django does when a request ends (request_finished), which the test client leaves out
    to keep a test's transaction: a connection broken by the request is closed, so the next
    request connects afresh, as in production."""
    connection.close_if_unusable_or_obsolete()


def other_session() -> psycopg.Connection:
    """A connection of its own to the test database (autocommit), as another process has."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings.get("USER") or "postgres",
        password=settings.get("PASSWORD") or None,
        autocommit=True,
    )
