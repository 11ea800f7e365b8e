"""The README's seller example (fetch the sealed document, open it, sign it, accept) is run as is
against a live server, so the README cannot drift from the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounts.services import api_key_create
from payments.models import Payment
from payments.orders.models import OrderEvent
from tests.lifecycle.accept_fixtures import (
    key_pool_fixture,  # noqa: F401  (the key_pool fixture)
    make_buyer,
    make_product,
    make_seller,
    own_keys,
    pay_by_card,
    place_order,
    sub_order_of,
)

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(
    r"<!-- accept-example:start -->\s*```python\n(?P<code>.*?)```\s*<!-- accept-example:end -->",
    re.DOTALL,
)


def readme_example() -> str:
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "the README lost its accept example block"
    return match["code"]


@pytest.mark.django_db(transaction=True)
def test_the_readme_example_accepts_an_order(key_pool, live_server, capsys):
    seller = make_seller(key_pool, dashboard=False)
    keys = own_keys(key_pool, seller, encryption=True)
    _, api_key = api_key_create(owner=seller, name="shop backend")
    buyer = make_buyer()
    order = place_order(buyer, [(make_product(seller, price=4200), 1)])
    payment = pay_by_card(order, buyer)

    namespace = {
        "BASE_URL": live_server.url,
        "API_KEY": api_key,
        "SIGNING_KEY_ID": str(keys.signing.id),
        "SIGNING_KEY_PEM": keys.signing_private,
        "ENCRYPTION_KEY_PEM": keys.encryption_private,
    }
    exec(compile(readme_example(), "README.md", "exec"), namespace)

    assert capsys.readouterr().out.strip() == f"{order.number} accepted"
    sub_order = sub_order_of(order, seller)
    assert (sub_order.status, sub_order.acceptance_key_id) == ("accepted", keys.signing.id)
    assert OrderEvent.objects.filter(sub_order=sub_order, kind="order.accepted").count() == 1
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.status, payment.captured_minor) == ("captured", 4200)
