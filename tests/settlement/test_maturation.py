"""Released money waits in pending for the plan's hold, then becomes available (less a rolling
reserve, released later), set-wise and exactly once."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ledger import chart
from ledger.models import Transfer
from ledger.selectors import account_balance
from settlement.maturation import maturation_transfer_id, mature_due
from settlement.models import HeldRelease
from tests.accounts.factories import SellerFactory
from tests.settlement.factories import released

pytestmark = pytest.mark.django_db

PLANS = {
    "standard": {"bps": 290, "hold_days": 2},
    "reserved": {"bps": 290, "hold_days": 2, "reserve_bps": 1000, "reserve_days": 30},
}


def balance(seller, kind, currency="EUR"):
    code = {"pending": chart.seller_pending, "available": chart.seller_available}.get(kind)
    code = code(seller.pk) if code else chart.seller_reserve(seller.pk)
    account = chart.account(currency=currency, code=code)
    return account_balance(account).credit_balance


def test_the_name_uuid_in_sql_is_pythons_uuid3():
    names = ["release:" + str(uuid.uuid4()) + ":available", "", "é€ unicode", "x" * 300]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(
                "SELECT settlement_name_uuid(%s::uuid, %s)", [str(chart.MATURATION_TRANSFERS), name]
            )
            assert cursor.fetchone()[0] == uuid.uuid3(chart.MATURATION_TRANSFERS, name)


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_money_stays_pending_until_the_hold_ends_then_becomes_available():
    seller = SellerFactory()
    now = timezone.now()
    held = released(seller, net_minor=9_710, fee_minor=290, released_at=now)
    assert held.due_at == now + dt.timedelta(days=2)

    assert mature_due(now=now + dt.timedelta(days=1, hours=23)) == {
        "matured": 0,
        "reserves_released": 0,
    }
    assert balance(seller, "pending") == 9_710

    assert mature_due(now=now + dt.timedelta(days=2))["matured"] == 1
    assert balance(seller, "pending") == 0
    assert balance(seller, "available") == 9_710
    moved = Transfer.objects.get(id=maturation_transfer_id(held.release_transfer_id, "available"))
    assert moved.reason == "balance_matured"
    assert moved.metadata["release"] == str(held.release_transfer_id)

    # A second run finds nothing left to move.
    assert mature_due(now=now + dt.timedelta(days=3))["matured"] == 0
    assert balance(seller, "available") == 9_710


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_a_rolling_reserve_is_kept_back_then_released(settings):
    seller = SellerFactory(profile__fee_plan="reserved")
    now = timezone.now()
    held = released(seller, net_minor=1_005, released_at=now)
    # 10 % of 1,005 is 100.5: rounded half-up to 101 (core.money.fee_from_bps).
    assert held.reserve_minor == 101

    mature_due(now=now + dt.timedelta(days=2))
    assert (balance(seller, "available"), balance(seller, "reserve")) == (904, 101)

    assert mature_due(now=now + dt.timedelta(days=31))["reserves_released"] == 0
    assert mature_due(now=now + dt.timedelta(days=32))["reserves_released"] == 1
    assert (balance(seller, "available"), balance(seller, "reserve")) == (1_005, 0)
    assert balance(seller, "pending") == 0


@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_many_sellers_and_currencies_mature_in_one_run():
    sellers = [SellerFactory() for _ in range(5)]
    now = timezone.now()
    for index, seller in enumerate(sellers):
        released(seller, net_minor=100 + index, released_at=now)
        released(seller, net_minor=7, currency="JPY", released_at=now)
        released(seller, net_minor=1_234, currency="KWD", released_at=now)
    assert mature_due(now=now + dt.timedelta(days=2), limit=4)["matured"] == 15
    for index, seller in enumerate(sellers):
        assert balance(seller, "available") == 100 + index
        assert balance(seller, "available", "JPY") == 7
        assert balance(seller, "available", "KWD") == 1_234
    assert not HeldRelease.objects.filter(matured_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
@override_settings(CLEARHOUSE_FEE_PLANS=PLANS)
def test_two_overlapping_runs_move_each_release_once():
    sellers = [SellerFactory() for _ in range(3)]
    now = timezone.now()
    for seller in sellers:
        for _ in range(40):
            released(seller, net_minor=10, released_at=now)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(mature_due(now=now + dt.timedelta(days=2), limit=7)["matured"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(results) == 120
    for seller in sellers:
        assert balance(seller, "available") == 400
        assert balance(seller, "pending") == 0
