import pytest
from django.conf import settings


def on_postgres() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def pytest_generate_tests(metafunc):
    """`ledger_path`: the portable Python path everywhere, and the PL/pgSQL fast path on PostgreSQL."""
    if "ledger_path" in metafunc.fixturenames:
        paths = ["portable", "fast"] if on_postgres() else ["portable"]
        metafunc.parametrize("ledger_path", paths, indirect=True)


@pytest.fixture
def ledger_path(request, settings):
    settings.LEDGER_FAST_PATH = request.param == "fast"
    return request.param
