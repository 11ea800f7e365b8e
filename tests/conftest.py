"""Suite-wide rules for the real stack.

- `postgres` tests need DATABASE_URL=postgres://...; `integration` tests need that and REDIS_URL
  (they start a real Celery worker on the same test database). Without them they are skipped with
  the reason shown, unless CLEARHOUSE_REQUIRE_FULL_STACK=1 (set by .ci/run): then they fail.
- `integration` tests all run in one xdist group, so one pytest worker starts one Celery worker.
- The `celery_worker` fixture (tests/integration/worker.py) is available to every test folder.
"""

import os

import pytest

from tests.integration.worker import celery_worker  # noqa: F401  (the fixture, for every folder)

REQUIRE_FULL_STACK = os.environ.get("CLEARHOUSE_REQUIRE_FULL_STACK") == "1"


def missing_stack(item: pytest.Item) -> str | None:
    """Why this test cannot run on the configured stack, or None if it can."""
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    needs_postgres = "postgres" in item.keywords or "integration" in item.keywords
    if needs_postgres and not on_postgres:
        return "needs PostgreSQL: set DATABASE_URL=postgres://... to run it"
    if "integration" in item.keywords and not settings.REDIS_URL:
        return "needs Redis and a real Celery worker: set REDIS_URL=redis://... to run it"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(pytest.mark.xdist_group("integration"))


def pytest_runtest_setup(item):
    reason = missing_stack(item)
    if reason is None:
        return
    if REQUIRE_FULL_STACK:
        pytest.fail(f"CLEARHOUSE_REQUIRE_FULL_STACK=1 but this test {reason}", pytrace=False)
    pytest.skip(reason)
