"""What a shopper finds in the header and the grid: the shop and the cart (with its count) signed
out or in, and add to cart from the product grid."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_signed_out_the_header_links_the_shop_and_the_cart_with_its_count(product_a):
    client = Client()

    before = client.get(reverse("payments:shop")).content.decode()
    added = client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "1"})
    after = client.get(reverse("home")).content.decode()

    nav = before.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    assert f'href="{reverse("payments:shop")}"' in nav and ">Cart</a>" in nav
    assert added.status_code == 302
    assert 'data-testid="nav-cart"' in after and "Cart (1)</a>" in after


def test_a_buyer_adds_to_the_cart_from_the_grid_and_the_header_counts_it(
    buyer, product_a, product_b
):
    client = Client()
    client.force_login(buyer)
    grid = client.get(reverse("payments:shop")).content.decode()
    assert f'data-testid="add-{product_a.pk}"' in grid

    client.post(reverse("payments:cart_add", args=[product_a.pk]), {"quantity": "1"})
    client.post(reverse("payments:cart_add", args=[product_b.pk]), {"quantity": "2"})
    page = client.get(reverse("payments:cart")).content.decode()

    assert "Cart (3)</a>" in page
