"""Fixtures for settlement: the order lifecycle's (tests/lifecycle/*_fixtures.py, imported by each
test module), the payment side's, and the seller dashboard's data (dashboard_fixtures.py)."""

from tests.payments.pay_fixtures import *  # noqa: F403
from tests.settlement.dashboard_fixtures import fee_plans, settled  # noqa: F401
