"""Fixtures for settlement (escrow release, fee plans, seller balances): the order lifecycle's
(tests/lifecycle/*_fixtures.py, imported by each test module) and the payment side's."""

from tests.payments.pay_fixtures import *  # noqa: F403
