"""Fixtures for the order lifecycle (issue 5). Each helper keeps its own in <prefix>_fixtures.py;
the payment side's (wallet test keys, no real sleeps) apply here too."""

from tests.payments.pay_fixtures import *  # noqa: F403
