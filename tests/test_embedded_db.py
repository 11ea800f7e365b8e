"""The embedded PostgreSQL that `make run` and `make test` use without DATABASE_URL, and the
start-up errors for a DATABASE_URL Clearhouse cannot use."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured

from config import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "postgres"
    yield path
    embedded_db.stop(path)


def _select_one(server: embedded_db.Server) -> int:
    with psycopg.connect(server.url(), connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def _wait_gone(pid: int) -> None:
    for _ in range(100):
        if not embedded_db._pid_alive(pid):
            return
        time.sleep(0.05)


def test_start_connect_stop(data_dir):
    server = embedded_db.start(data_dir)

    assert embedded_db.running(data_dir) == server
    assert server.url().startswith("postgres://postgres@127.0.0.1:")
    assert _select_one(server) == 1
    assert embedded_db.start(data_dir) == server  # a second start joins the running server

    assert embedded_db.stop(data_dir) is True
    assert embedded_db.running(data_dir) is None
    assert embedded_db.stop(data_dir) is False
    with pytest.raises(psycopg.OperationalError):
        _select_one(server)


def test_a_server_killed_with_its_pid_file_left_behind_is_recovered(data_dir, capsys):
    killed = embedded_db.start(data_dir)
    os.kill(killed.pid, signal.SIGKILL)
    _wait_gone(killed.pid)
    assert (data_dir / "postmaster.pid").exists()
    assert embedded_db.running(data_dir) is None

    server = embedded_db.start(data_dir)

    assert "removing the stale" in capsys.readouterr().err
    assert server.pid != killed.pid
    assert _select_one(server) == 1


def test_a_pid_file_naming_another_program_is_stale(data_dir):
    server = embedded_db.start(data_dir)
    embedded_db.stop(data_dir)
    other = subprocess.Popen(["sleep", "30"])
    try:
        # A pid file as a killed server leaves it, its pid since reused by another program.
        (data_dir / "postmaster.pid").write_text(f"{other.pid}\n{data_dir}\n0\n{server.port}\n")
        assert embedded_db.running(data_dir) is None

        restarted = embedded_db.start(data_dir)

        assert _select_one(restarted) == 1
    finally:
        other.kill()
        other.wait()


def test_run_gives_the_command_the_url_and_the_last_user_stops_the_server(data_dir, tmp_path):
    out = tmp_path / "url.txt"
    status = embedded_db.run(
        [
            sys.executable,
            "-c",
            f"import os; open({str(out)!r}, 'w').write(os.environ['DATABASE_URL'])",
        ],
        data_dir=data_dir,
    )

    assert status == 0
    assert out.read_text().startswith("postgres://postgres@127.0.0.1:")
    assert out.read_text().endswith("/clearhouse")
    assert embedded_db.running(data_dir) is None


def test_run_passes_on_the_command_exit_status(data_dir):
    assert embedded_db.run([sys.executable, "-c", "raise SystemExit(3)"], data_dir=data_dir) == 3


def test_a_second_exclusive_run_is_refused_with_the_data_directory_named(data_dir):
    run_lock = data_dir.with_name(data_dir.name + ".run")
    # What a running `make run` holds:
    with (
        embedded_db._lock(run_lock, fcntl.LOCK_EX),
        pytest.raises(embedded_db.EmbeddedPostgresError, match="already running") as refused,
    ):
        embedded_db.run(["true"], data_dir=data_dir, exclusive=True)

    assert str(data_dir.resolve()) in str(refused.value)
    assert not (data_dir / "PG_VERSION").exists()  # nothing was started or written


def _exclusive_run(data_dir: Path, *command: str) -> list[str]:
    """The command line `make run` uses, for `command`."""
    script = str(BASE_DIR / "config" / "embedded_db.py")
    return [
        sys.executable,
        script,
        "--data-dir",
        str(data_dir),
        "run",
        "--exclusive",
        "--",
        *command,
    ]


def test_the_command_line_refuses_a_second_make_run(data_dir):
    """Two processes, as two terminals would: the second `run --exclusive` says why and exits 2."""
    first = subprocess.Popen(_exclusive_run(data_dir, "sleep", "20"), stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if embedded_db.running(data_dir) is not None:
                break
            time.sleep(0.05)
        second = subprocess.run(
            _exclusive_run(data_dir, "true"), capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 2
        assert "already running with the data directory" in second.stderr
        assert embedded_db.running(data_dir) is not None  # the first one's server is untouched
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert embedded_db.running(data_dir) is None  # the first run stopped it on its way out


def _settings_error(database_url: str | None, pgdata: Path | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CLEARHOUSE_EMBEDDED_PGDATA": str(pgdata or BASE_DIR / "var" / "postgres"),
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr


def test_a_sqlite_database_url_is_refused_naming_the_variable():
    error = _settings_error("sqlite:///db.sqlite3")

    assert "ImproperlyConfigured" in error
    assert "DATABASE_URL must name a PostgreSQL database" in error


def test_no_database_url_and_no_embedded_server_says_what_to_do(tmp_path):
    error = _settings_error(None, pgdata=tmp_path / "never-started")

    assert "DATABASE_URL is not set and the embedded PostgreSQL is not running" in error


@pytest.mark.django_db
def test_a_postgresql_older_than_supported_is_refused_naming_the_variable(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection, "get_database_version", lambda: (13, 9))

    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL names PostgreSQL 13\.9"):
        connection.check_database_version_supported()


@pytest.mark.django_db
def test_the_connected_server_passes_the_version_check():
    from django.db import connection

    connection.check_database_version_supported()
    assert connection.vendor == "postgresql"
