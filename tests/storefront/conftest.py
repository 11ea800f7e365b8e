import pytest

from tests.storefront.factories import BuyerFactory, ProductFactory, SellerFactory

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Main Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


@pytest.fixture(autouse=True)
def _storefront_urls(settings):
    settings.ROOT_URLCONF = "tests.storefront.urls"


@pytest.fixture
def address():
    return dict(ADDRESS)


@pytest.fixture
def buyer(db):
    return BuyerFactory()


@pytest.fixture
def seller_a(db):
    return SellerFactory()


@pytest.fixture
def seller_b(db):
    return SellerFactory()


@pytest.fixture
def product_a(seller_a):
    return ProductFactory(seller=seller_a, price_minor=1250, stock=5, title="Mug")


@pytest.fixture
def product_b(seller_b):
    return ProductFactory(seller=seller_b, price_minor=399, stock=3, title="Towel")


@pytest.fixture(autouse=True)
def _payment_side_for_storefront(settings, monkeypatch):
    """The payment side's fixed test wallet keys, no real retry sleeps."""
    try:
        from payments.flows import authorize
        from tests.payments.pay_fixtures import test_key
    except ImportError:  # the payment side is not merged
        return
    settings.SANDBOX_WALLET_KEYS = {
        wallet: {
            "private_pem": test_key(wallet, "private"),
            "public_pem": test_key(wallet, "public"),
        }
        for wallet in ("alipay", "wechat")
    }
    monkeypatch.setattr(authorize, "sleep", lambda _seconds: None)
