import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import BuyerFactory, SellerFactory, StaffFactory


@pytest.fixture
def buyer(db):
    return BuyerFactory()


@pytest.fixture
def seller(db):
    return SellerFactory()


@pytest.fixture
def other_seller(db):
    return SellerFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client
