"""The drill's database: a new one on the configured server, migrated, this process pointed at it,
dropped at the end (unless kept); or a scratch database it is given, which must hold no payment."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import environ
from django.core.management import call_command
from django.db import connections

from core.postgresql.scratch import create_database, database_url, drop_database, use_database

MAX_NAME_CHARS = 63  # PostgreSQL's identifier limit


@contextlib.contextmanager
def drill_database(*, url: str | None, token: str, keep: bool) -> Iterator[dict]:
    """The settings dict of the database the drill runs on (this process pointed at it)."""
    original = dict(connections["default"].settings_dict)
    created = not url
    if url:
        target = {**original, **environ.Env.db_url_config(url)}
        target["ENGINE"] = original["ENGINE"]
    else:
        base = original["NAME"][: MAX_NAME_CHARS - len(token) - 8]
        target = {**original, "NAME": f"{base}_pdrill_{token}"}
        create_database(original, target["NAME"], replace=False)
    try:
        use_database(target)
        call_command("migrate", interactive=False, verbosity=0)
        if not created:
            from payments.models import Payment

            if Payment.objects.exists():
                raise RuntimeError(
                    "The database given already holds payments: the drill runs only on a new "
                    "database (leave out --database-url and it makes one)."
                )
        yield target
    finally:
        connections.close_all()
        use_database(original)
        if created and not keep:
            drop_database(original, target["NAME"])


def url_for(settings_dict: dict, application: str) -> str:
    """The database's URL for a process of the drill, its connections named `application`."""
    return f"{database_url(settings_dict)}?application_name={application}"
