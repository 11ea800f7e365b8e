"""Fixtures for the `accept` tests: sellers with keys, paid orders (card, wallet, bank transfer)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from accounts import dashboard_keys
from accounts.models import KeyPurpose, Role, SellerKey, User
from accounts.services import seller_key_upload
from core import crypto
from ledger.selectors import account_balance, account_by_code
from payments.models import Order, Payment, Product, SubOrder
from payments.orders.services import order_create_from_cart
from tests.lifecycle.lifecycle_fixtures import (  # noqa: F401  (imported from here by the tests)
    make_buyer,
    pay_by_bank_transfer,
    pay_by_card,
    pay_by_wallet,
    sub_order_of,
)
from tests.payments.pay_factories import make_user

PASSWORD = "correct horse battery staple"
ADDRESS = {
    "name": "Bea Buyer",
    "line1": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
_numbers = itertools.count(1)

# RSA-3072 generation takes about a second: a pool made once per process, handed out in turn
# (each test's database is new, so a key may be registered again in the next test).
_RSA_POOL: list[tuple[str, str]] = []


class KeyPool:
    def __init__(self) -> None:
        self._next_rsa = 0

    def rsa(self) -> tuple[str, str]:
        if self._next_rsa == len(_RSA_POOL):
            _RSA_POOL.append(crypto.generate_encryption_key())
        pair = _RSA_POOL[self._next_rsa]
        self._next_rsa += 1
        return pair

    def signing(self, algorithm: str = crypto.ED25519) -> tuple[str, str]:
        return crypto.generate_signing_key(algorithm) if algorithm == crypto.ED25519 else self.rsa()


@pytest.fixture(name="key_pool")
def key_pool_fixture(monkeypatch) -> KeyPool:
    """Dashboard keys come from the pool too (fast tests; same code path otherwise)."""
    pool = KeyPool()
    monkeypatch.setattr(
        dashboard_keys,
        "_generate_pairs",
        lambda: {KeyPurpose.SIGNING: pool.signing(), KeyPurpose.ENCRYPTION: pool.rsa()},
    )
    return pool


@dataclass
class OwnKeys:
    """A seller's own key pair(s), private halves held by the test (never by the platform)."""

    signing: SellerKey
    signing_private: str
    encryption: SellerKey | None = None
    encryption_private: str | None = None


def register(seller: User, purpose: str, public_pem: str) -> SellerKey:
    """The seller uploads its own public key (the service the key pages use)."""
    return seller_key_upload(seller=seller, purpose=purpose, public_pem=public_pem, label="own")


def make_seller(key_pool: KeyPool, *, dashboard: bool = True) -> User:
    seller = make_user(Role.SELLER)  # its password is PASSWORD
    if dashboard:
        dashboard_keys.dashboard_keys_ensure(seller=seller, password=PASSWORD)
    return seller


def own_keys(
    key_pool: KeyPool, seller: User, *, algorithm: str = crypto.ED25519, encryption: bool = False
) -> OwnKeys:
    private, public = key_pool.signing(algorithm)
    keys = OwnKeys(signing=register(seller, "signing", public), signing_private=private)
    if encryption:
        enc_private, enc_public = key_pool.rsa()
        keys.encryption = register(seller, "encryption", enc_public)
        keys.encryption_private = enc_private
    return keys


def make_product(seller: User, *, price: int, stock: int = 10, currency: str = "EUR") -> Product:
    return Product.objects.create(
        seller=seller,
        title=f"Teapot {next(_numbers)}",
        price_minor=price,
        currency=currency,
        stock=stock,
    )


def place_order(buyer: User, lines: list[tuple[Product, int]]) -> Order:
    return order_create_from_cart(
        buyer=buyer,
        cart_lines=[{"product_id": p.id, "quantity": q} for p, q in lines],
        shipping_address=ADDRESS,
    )


def balance(code: str, currency: str = "EUR"):
    return account_balance(account_by_code(currency=currency, code=code).id)


def snapshot(sub_order: SubOrder) -> dict:
    """Everything acceptance may change, to assert that a refusal changed nothing."""
    from ledger.models import Transfer
    from payments.orders.models import OrderEvent

    sub_order.refresh_from_db()
    payment = Payment.objects.filter(order_id=sub_order.order_id).order_by("-created_at").first()
    return {
        "status": sub_order.status,
        "accepted_at": sub_order.accepted_at,
        "signature": sub_order.acceptance_signature,
        "key": sub_order.acceptance_key_id,
        "captured": sub_order.captured_minor,
        "payment": (payment.status, payment.captured_minor) if payment else None,
        "events": OrderEvent.objects.count(),
        "transfers": Transfer.objects.count(),
    }
