"""Scratch databases for the benchmarks and the settlement drill: made and dropped through the
server's maintenance database (`postgres`) on the server a Django settings dict names. Only for
databases the caller owns outright: dropping one ends its sessions (WITH (FORCE))."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from psycopg import sql


def database_url(settings_dict: dict, name: str | None = None) -> str:
    """A DATABASE_URL for `name` (default: the settings' own database) on the settings' server,
    for the processes a benchmark, the drill or a test starts."""
    user = quote(settings_dict.get("USER") or "postgres", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(name or settings_dict['NAME'], safe='')}"


def maintenance_connection(settings_dict: dict) -> psycopg.Connection:
    """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
    return psycopg.connect(
        dbname="postgres",
        host=settings_dict.get("HOST") or "127.0.0.1",
        port=settings_dict.get("PORT") or 5432,
        user=settings_dict.get("USER") or "postgres",
        password=settings_dict.get("PASSWORD") or None,
        autocommit=True,
        connect_timeout=10,
    )


def drop_database(settings_dict: dict, name: str) -> None:
    with maintenance_connection(settings_dict) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database(settings_dict: dict, name: str, *, replace: bool = True) -> None:
    """Create `name`, first dropping a database of that name left by an earlier run if
    `replace`."""
    with maintenance_connection(settings_dict) as admin:
        if replace:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def use_database(settings_dict: dict) -> None:
    """Point this process's default connection at `settings_dict`'s database (a drill or a
    benchmark moving onto its scratch database, and back)."""
    from django.conf import settings
    from django.db import connections

    connection = connections["default"]
    connection.close()
    for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT"):
        settings.DATABASES["default"][key] = settings_dict.get(key, "")
        connection.settings_dict[key] = settings_dict.get(key, "")
