# Payment-side fixtures live in pay_fixtures.py (so the storefront side can keep its own conftest
# content here without a merge conflict in one big file).
from tests.payments.pay_fixtures import *  # noqa: F403
