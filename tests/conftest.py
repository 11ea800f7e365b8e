"""Suite-wide rules for the real stack.

- The database is always PostgreSQL: the server DATABASE_URL names, or the embedded one that
  `make test` starts. `integration` tests also need REDIS_URL (they start a real Celery worker on
  the same test database). Without Redis they are skipped with the reason shown, unless
  CLEARHOUSE_REQUIRE_FULL_STACK=1 (set by .ci/run): then they fail.
- `integration` tests all run in one xdist group ("integration"), so under `-n 2 --dist loadgroup`
  one pytest worker starts one Celery worker (each pytest worker has its own queue anyway).
- The `celery_worker` fixture (tests/integration/worker.py) is available to every test folder.
"""

import contextlib
import os

import pytest

from tests.integration.worker import (  # noqa: F401  (the fixtures, for every folder)
    _celery_worker_process,
    celery_worker,
)
from tests.lock_order import lock_order  # noqa: F401  (the fixture, for every folder)

REQUIRE_FULL_STACK = os.environ.get("CLEARHOUSE_REQUIRE_FULL_STACK") == "1"


def missing_stack(item: pytest.Item) -> str | None:
    """Why this test cannot run on the configured stack, or None if it can."""
    from django.conf import settings

    if "integration" in item.keywords and not settings.REDIS_URL:
        return "needs Redis and a real Celery worker: set REDIS_URL=redis://... to run it"
    return None


def pytest_itemcollected(item):
    if "integration" in item.keywords:
        item.add_marker(pytest.mark.xdist_group("integration"))


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook
def pytest_collection_modifyitems(config, items):
    """Make --dist loadgroup group again on pytest 9.2 (pytest-xdist issue #1386, PR #1388).

    xdist 3.8 marks a group by appending "@group" to `item._nodeid`, which pytest 9.2 no longer
    reads (node ids are structured, in `item._id`): tests would be spread over workers silently.
    Does nothing once xdist does it itself, or without loadgroup.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="session", autouse=True)
def _purge_test_queue():
    """Tasks published by tests that no worker ran do not stay behind in Redis."""
    yield
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        from config.celery import app

        with contextlib.suppress(Exception):
            app.control.purge()


def pytest_runtest_setup(item):
    reason = missing_stack(item)
    if reason is None:
        return
    if REQUIRE_FULL_STACK:
        pytest.fail(f"CLEARHOUSE_REQUIRE_FULL_STACK=1 but this test {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_ledger_account_ids():
    """Test databases are rolled back or flushed between tests: forget remembered account ids."""
    from ledger.services import clear_account_id_cache

    clear_account_id_cache()
    yield
    clear_account_id_cache()


# Folders whose tests run the product's money paths: every ledger account they leave behind must
# be one the chart of accounts names (ledger/chart.py). The ledger's own tests make test accounts.
_CHART_CHECKED = (
    "lifecycle",
    "payments",
    "storefront",
    "api",
    "integration",
    "browser",
    "settlement",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    uses_db = item.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(item.fixturenames)
    )
    if uses_db and item.path.parent.name in _CHART_CHECKED:
        _assert_only_chart_accounts()
    return result


def _assert_only_chart_accounts() -> None:
    from django.db import DatabaseError, connection

    from ledger import chart
    from ledger.models import Account

    if connection.needs_rollback:
        return  # the test left its transaction broken on purpose: nothing can be read
    try:
        codes = set(Account.objects.values_list("code", flat=True))
    except DatabaseError:
        return
    foreign = sorted(code for code in codes if not chart.is_chart_code(code))
    assert not foreign, f"ledger accounts outside the chart of accounts: {foreign}"


# Folders whose database tests all run under the lock-order check (tests/lock_order.py): a code
# path that takes row locks out of the documented order fails the test that runs it.
_LOCK_ORDER_CHECKED = ("lifecycle", "payments", "storefront")


@pytest.fixture(autouse=True)
def _locks_in_order(request):
    if (
        request.node.path.parent.name in _LOCK_ORDER_CHECKED
        and request.node.get_closest_marker("lock_order_violation_expected") is None
        and (request.node.get_closest_marker("django_db") or "db" in request.fixturenames)
    ):
        request.getfixturevalue("lock_order")
    yield
