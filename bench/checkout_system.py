"""bench_checkout's machinery: the server processes (gunicorn, the outbox relay), CPU accounting,
the scratch databases and the pgbench baseline, the result file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

from bench.checkout_load import ApiClient


def backend_cpu_s() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (0.0 without /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return proc_cpu_s(pid) or 0.0


def proc_cpu_s(pid: int | str) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_snapshot(server_pgid: int, dbname: str, relay_pids=()) -> dict[str, float]:
    """CPU seconds so far of the gunicorn processes (its process group), of the backends connected
    to the scratch database, and of this process (the clients). Linux /proc; zeros elsewhere."""
    totals = {"server": 0.0, "db": 0.0}
    marker = f" {dbname} ".encode()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == server_pgid:
                    kind = "server"
                else:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        command = handle.read()
                    if not command.startswith(b"postgres:") or marker not in command:
                        continue
                    kind = "db"
                totals[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                continue
    usage = resource.getrusage(resource.RUSAGE_SELF)
    totals["client"] = usage.ru_utime + usage.ru_stime
    if relay_pids:
        totals["of_which_relay"] = sum(proc_cpu_s(pid) or 0.0 for pid in relay_pids)
    return totals


def per_op(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    if not count:
        return {}
    return {key: round((after[key] - before.get(key, 0.0)) * 1000 / count, 2) for key in after}


def run_command(command: list[str], *, env: dict | None = None) -> str:
    result = subprocess.run(
        command, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise CommandError(f"{' '.join(command[:4])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, key: str, process) -> None:
    for _ in range(1800):  # up to 180 s (a loaded machine imports slowly)
        if process.poll() is not None:
            raise CommandError("gunicorn exited during start")
        try:
            status, _ = ApiClient(port, key).call("GET", "/api/v1/bench/noop")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise CommandError("gunicorn did not answer within 180 s")


def stop_process(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


RELAY_APPLICATION = "clearhouse-bench-relay"


def start_relay(env: dict, server_pgid: int) -> subprocess.Popen:
    """The order events outbox relay, as production runs it beside the web processes: in
    gunicorn's process group, so its CPU is counted as the server's and stop_process stops it too. Its
    connection is named, so that its backend's CPU can be shown apart."""
    url = env["DATABASE_URL"]
    url += ("&" if "?" in url else "?") + f"application_name={RELAY_APPLICATION}"
    return subprocess.Popen(
        [sys.executable, "manage.py", "relay_order_events"],
        env={**env, "DATABASE_URL": url},
        cwd=settings.BASE_DIR,
        process_group=server_pgid,
        stdout=subprocess.DEVNULL,
    )


def backends_named(params: dict, name: str, application: str) -> list[int]:
    with admin_connection(params, checked_name(name)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [name, application],
        ).fetchall()
    return [int(row[0]) for row in rows]


def count_events_waiting(params: dict, name: str) -> int:
    with admin_connection(params, checked_name(name)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM payments_orderevent"
            " WHERE relayed_at IS NULL AND dispatched_at IS NULL"
        ).fetchone()
    return int(row[0])


def admin_connection(params: dict, dbname: str = "postgres"):

    return psycopg.connect(
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        user=params.get("user") or "postgres",
        password=params.get("password") or None,
        dbname=dbname,
        autocommit=True,
    )


def analyze(params: dict, name: str) -> None:
    """Statistics, as a live database has them. The scratch database starts empty: statements
    first planned against empty tables (the ledger's lookups by id among them) keep sequential
    scans in long-lived connections until autovacuum analyzes, and their cost then grows with
    every payment of the phase. ANALYZE invalidates those plans."""
    with admin_connection(params, checked_name(name)) as conn:
        conn.execute("ANALYZE")


def checked_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name) or "bench" not in name:
        raise CommandError(f"refusing to touch database {name!r}")
    return name


def recreate_database(params: dict, name: str) -> None:
    name = checked_name(name)
    with admin_connection(params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(params: dict, name: str) -> None:
    name = checked_name(name)
    with admin_connection(params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pgbench(params: dict, name: str, clients: int, seconds: int) -> float:
    recreate_database(params, name)
    common = [
        "-h",
        params.get("host") or "127.0.0.1",
        "-p",
        str(params.get("port") or 5432),
        "-U",
        params.get("user") or "postgres",
    ]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    run_command(["pgbench", "-i", "-s", "10", "-q", *common, name], env=env)
    out = run_command(
        [
            "pgbench",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            *common,
            name,
        ],
        env=env,
    )
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise CommandError(f"no tps in pgbench output:\n{out[-2000:]}")
    return float(match.group(1))


def save_result(result: dict) -> None:
    folder = Path(settings.BASE_DIR) / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    (folder / f"checkout-{stamp}.json").write_text(json.dumps(result, indent=2))
