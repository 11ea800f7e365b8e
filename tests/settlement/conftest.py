"""Fixtures shared by the settlement tests (the seller dashboard's data: dashboard_fixtures.py)."""

from tests.settlement.dashboard_fixtures import fee_plans, settled  # noqa: F401
