"""The drill's own database: a fresh one on the configured server (made, migrated, dropped at the
end, as the test runner does), or a scratch one it is given; never the developer's data."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import environ
from django.core.management import call_command
from django.db import connections

from core.postgresql.scratch import create_database, database_url, drop_database, use_database

MAX_NAME_CHARS = 63  # PostgreSQL's identifier limit


class NotAScratchDatabase(RuntimeError):
    """The database given holds money movements already: the drill will not write into it."""


@dataclass(frozen=True)
class DrillDatabase:
    settings_dict: dict
    created: bool

    @property
    def name(self) -> str:
        return self.settings_dict["NAME"]

    @property
    def url(self) -> str:
        """A DATABASE_URL for the processes the drill starts."""
        return database_url(self.settings_dict)


@contextlib.contextmanager
def drill_database(*, url: str | None, token: str, keep: bool) -> Iterator[DrillDatabase]:
    """The database the drill runs on, this process's connection pointed at it, migrated.

    url None: a new database named after the configured one, dropped afterwards (unless `keep`).
    url given: that database, which must hold no ledger transfer yet; it is left as it is."""
    original = dict(connections["default"].settings_dict)
    if url:
        target = {**original, **environ.Env.db_url_config(url)}
        target["ENGINE"] = original["ENGINE"]
        database = DrillDatabase(target, created=False)
    else:
        base = original["NAME"][: MAX_NAME_CHARS - len(token) - 7]
        target = {**original, "NAME": f"{base}_drill_{token}"}
        database = DrillDatabase(target, created=True)
        create_database(original, database.name, replace=False)
    try:
        use_database(target)
        call_command("migrate", interactive=False, verbosity=0)
        if not database.created:
            _require_scratch()
        yield database
    finally:
        connections.close_all()
        use_database(original)
        if database.created and not keep:
            drop_database(original, database.name)


def _require_scratch() -> None:
    from ledger.models import Transfer

    if Transfer.objects.exists():
        raise NotAScratchDatabase(
            "The database given already holds ledger transfers: the drill runs only on a new "
            "database (leave out --database-url and it makes one)."
        )


def new_token() -> str:
    return secrets.token_hex(4)
