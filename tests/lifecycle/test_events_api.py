"""GET /api/v1/events/: each caller sees only the events of its own orders (or sub-orders)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from tests.lifecycle.webhook_fixtures import *  # noqa: F403 - the fixtures
from tests.lifecycle.webhook_fixtures import payment_data, record, sub_order_of
from tests.payments.pay_factories import make_order, make_user

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {event["id"] for event in response.json()["results"]}


@pytest.fixture
def world(buyer, other_buyer, seller_a, seller_b, order):
    """Buyer's order (sellers A and B) and another buyer's order from seller B alone."""
    other_order = make_order(buyer=other_buyer, sellers=[seller_b], amounts=(900,))
    events = {
        "paid": record(order, "payment.authorized", data=payment_data(order)),
        "a_accepted": record(order, "order.accepted", sub_order=sub_order_of(order, seller_a)),
        "b_accepted": record(order, "order.accepted", sub_order=sub_order_of(order, seller_b)),
        "other_paid": record(other_order, "payment.authorized", data=payment_data(other_order)),
        "other_shipped": record(
            other_order, "order.shipped", sub_order=sub_order_of(other_order, seller_b)
        ),
    }
    return {"order": order, "other_order": other_order, **{k: v.pk for k, v in events.items()}}


def test_a_buyer_sees_the_events_of_own_orders_only(world, buyer, other_buyer):
    assert ids(api(buyer).get("/api/v1/events/")) == {
        world["paid"],
        world["a_accepted"],
        world["b_accepted"],
    }
    assert ids(api(other_buyer).get("/api/v1/events/")) == {
        world["other_paid"],
        world["other_shipped"],
    }
    response = api(buyer).get(f"/api/v1/events/{world['other_paid']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "event_not_found"


def test_a_seller_sees_own_sub_order_events_and_order_level_events_of_orders_it_sells_in(
    world, seller_a, seller_b
):
    assert ids(api(seller_a).get("/api/v1/events/")) == {world["paid"], world["a_accepted"]}
    assert ids(api(seller_b).get("/api/v1/events/")) == {
        world["paid"],
        world["b_accepted"],
        world["other_paid"],
        world["other_shipped"],
    }
    # Seller A cannot read seller B's sub-order event.
    assert api(seller_a).get(f"/api/v1/events/{world['b_accepted']}/").status_code == 404
    # The order-level event shows seller A only its own part.
    data = api(seller_a).get(f"/api/v1/events/{world['paid']}/").json()["data"]
    assert data["amount_minor"] == 1500
    assert [part["seller_id"] for part in data["sub_orders"]] == [seller_a.pk]


def test_staff_see_everything_and_the_buyer_sees_the_whole_payment(world, staff, buyer):
    assert len(ids(api(staff).get("/api/v1/events/?limit=200"))) == 5
    event = api(buyer).get(f"/api/v1/events/{world['paid']}/").json()
    assert event["data"]["amount_minor"] == 4000 and len(event["data"]["sub_orders"]) == 2
    assert event["type"] == "payment.authorized" and event["object"] == "event"
    assert event["order_number"] == world["order"].number and event["sub_order_id"] is None
    assert event["actor_type"] == "system"


def test_filters_by_type_and_order(world, seller_b):
    client = api(seller_b)
    assert ids(client.get("/api/v1/events/?type=order.accepted")) == {world["b_accepted"]}
    assert ids(client.get(f"/api/v1/events/?order={world['other_order'].pk}")) == {
        world["other_paid"],
        world["other_shipped"],
    }
    bad = client.get("/api/v1/events/?type=order.nope")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "type"
    bad = client.get("/api/v1/events/?order=12")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "order"


def test_cursor_pagination_walks_every_event_once_newest_first(world, staff):
    client = api(staff)
    seen: list[int] = []
    url = "/api/v1/events/?limit=2"
    while url:
        page = client.get(url).json()
        seen += [event["id"] for event in page["results"]]
        url = page["next"]
    assert len(seen) == 5 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_anonymous_callers_are_refused(world):
    response = APIClient().get("/api/v1/events/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_user_with_no_orders_sees_nothing(world):
    assert ids(api(make_user(Role.BUYER)).get("/api/v1/events/")) == set()
    assert ids(api(make_user(Role.SELLER)).get("/api/v1/events/")) == set()
