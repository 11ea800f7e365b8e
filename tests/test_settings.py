"""Production settings, checked in subprocesses with a clean environment (no developer .env)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
REQUIRED = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "CLEARHOUSE_MASTER_KEYS",
    "CLEARHOUSE_SIGNING_KEY",
]


def env_example() -> dict[str, str]:
    values = {}
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def clean_env(**overrides: str) -> dict[str, str]:
    """Only what a production host would set: .env.example's values, no .env file, no test vars."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "CLEARHOUSE_ENV_FILE": "",
        **env_example(),
        **overrides,
    }
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_env_example_lists_every_required_variable():
    assert set(REQUIRED) <= set(env_example())


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("how", ["missing", "blank"])
def test_production_refuses_to_start_without(name, how):
    env = clean_env()
    if how == "missing":
        del env[name]
    else:
        env[name] = "  "

    result = run(["manage.py", "check"], env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Set the {name} environment variable" in result.stderr


def test_deploy_check_is_clean_with_the_example_values():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], clean_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_logs_are_json_with_card_numbers_masked():
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('clearhouse.test').warning('paid with %s', '4242 4242 4242 4242')"
    )
    env = clean_env(PYTHONPATH=str(BASE_DIR))

    result = run(["-c", code], env)

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "clearhouse.test" in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "WARNING"
    assert record["logger"] == "clearhouse.test"
    assert record["message"] == "paid with [redacted-pan]"
    assert "time" in record


def test_production_hashes_passwords_with_argon2_first():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.PASSWORD_HASHERS[0]); print(settings.DEBUG)"
    )

    result = run(["-c", code], clean_env(PYTHONPATH=str(BASE_DIR)))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.contrib.auth.hashers.Argon2PasswordHasher", "False"]


def test_base_settings_put_argon2_first():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_developer_env_file_does_not_reach_the_test_settings(tmp_path):
    """Test settings ignore .env; local settings read the file CLEARHOUSE_ENV_FILE names."""
    env_file = tmp_path / "dev.env"
    env_file.write_text("DJANGO_ALLOWED_HOSTS=from-env-file.example\nAPI_THROTTLE_ANON=7/min\n")
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['anon'])"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(BASE_DIR),
        "CLEARHOUSE_ENV_FILE": str(env_file),
        "DATABASE_URL": "postgres://unused@127.0.0.1:1/unused",  # settings only, no connection
    }

    as_test = run(["-c", code], {**env, "DJANGO_SETTINGS_MODULE": "config.settings.test"})
    as_local = run(["-c", code], {**env, "DJANGO_SETTINGS_MODULE": "config.settings.local"})

    assert as_test.stdout.strip() == "10000/min", as_test.stderr
    assert as_local.stdout.strip() == "7/min", as_local.stderr


@pytest.mark.parametrize("entry", ["config.wsgi", "config.asgi"])
def test_the_application_imports_in_a_fresh_process(entry):
    """What gunicorn does first: an import cycle that the test run's own import order hides (DRF
    settings importing a parser that imports DRF's views) stops every worker at boot."""
    result = run(["-c", f"import {entry}; print('ok')"], clean_env(PYTHONPATH=str(BASE_DIR)))

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
