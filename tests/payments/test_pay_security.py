"""Card data never at rest in clear nor in logs; every payment object visible only to its buyer
and staff; payment pages only for their buyer or the holder of the link."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Role
from payments.models import Payment
from payments.vault.models import VaultedCard
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import ALL_TEST_CARDS, TEST_CVC, THREE_DS
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db
API = "/api/v1/payments/"


def pay_card(client, order, number, cvc=TEST_CVC):
    return client.post(
        API,
        json.dumps(
            {
                "order": str(order.id),
                "method": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": cvc},
            }
        ),
        content_type="application/json",
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _strings(value):
    """The text inside a stored value: strings, bytes, and the string keys/leaves of JSON (numbers
    are ids and amounts, not card data, and would only give false alarms for a 3-digit CVC)."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        yield value.decode("latin-1")
    elif isinstance(value, str):
        if value[:1] in ("{", "["):
            try:
                yield from _strings(json.loads(value))
                return
            except ValueError:
                pass
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def every_stored_value():
    """Every text, bytes and JSON value of every column of every table, with where it was."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    for text in _strings(value):
                        yield f"{table}.{column}", text


def leaks(text: str, pans: list[str], cvcs: list[str]) -> list[str]:
    found = [pan for pan in pans if pan in re.sub(r"[\s-]", "", text)]
    # A CVC is short: look for it as a token of its own, not inside longer digit or hex runs.
    found += [cvc for cvc in cvcs if re.search(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])", text)]
    return found


def test_no_pan_or_cvc_anywhere_in_the_database_after_card_payments(buyer):
    cvcs = ["947", "318", "562", "731", "284", "659", "873"]
    client = client_for(buyer)
    for number, cvc in zip(ALL_TEST_CARDS, cvcs, strict=True):
        order = make_order(buyer=buyer)
        body = pay_card(client, order, number, cvc=cvc).json()
        if number == THREE_DS:
            client.post(body["next_action"]["url"], {"action": "pass"})
    assert Payment.objects.count() == len(ALL_TEST_CARDS)
    assert VaultedCard.objects.count() == len(ALL_TEST_CARDS)
    scanned = list(every_stored_value())
    found = [(where, hit) for where, text in scanned for hit in leaks(text, ALL_TEST_CARDS, cvcs)]
    assert found == []
    assert any(where == "payments_vaultedcard.ciphertext" for where, _ in scanned)
    # The scan would see them if they were there: the vault stores something for every card.
    assert all(bytes(card.ciphertext) for card in VaultedCard.objects.all())


def test_the_scan_finds_card_data_planted_in_text_bytes_and_json(order):
    payment = Payment.objects.create(
        order=order, method="card", provider="sandbox_card", amount_minor=4000, currency="EUR"
    )
    payment.events.create(
        from_status="", to_status="created", actor="x", reason="pan 4242 4242 4242 4242"
    )
    payment.events.create(
        from_status="", to_status="created", actor="x", data={"card": {"cvc": "947"}}
    )
    found = {
        hit for _, text in every_stored_value() for hit in leaks(text, ALL_TEST_CARDS, ["947"])
    }
    assert found == {"4242424242424242", "947"}


def test_no_pan_or_cvc_in_logs(buyer, caplog):
    client = client_for(buyer)
    with caplog.at_level(logging.DEBUG):
        for number in ALL_TEST_CARDS:
            order = make_order(buyer=buyer)
            body = pay_card(client, order, number).json()
            if number == THREE_DS:
                client.post(body["next_action"]["url"], {"action": "fail"})
        # Bad input is logged by Django as a 4xx; the body must not be.
        pay_card(client, make_order(buyer=buyer), "4242424242424241")
    assert len(caplog.records) > 10  # the flows do log
    text = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    assert leaks(text, [*ALL_TEST_CARDS, "4242424242424241"], [TEST_CVC]) == []


def test_api_responses_never_echo_card_data(buyer):
    client = client_for(buyer)
    for number in [*ALL_TEST_CARDS, "4242424242424241"]:
        response = pay_card(client, make_order(buyer=buyer), number)
        assert number not in response.content.decode()
        assert re.search(rf'"{TEST_CVC}"', response.content.decode()) is None


def test_each_payment_visible_only_to_its_buyer_and_staff():
    """Not to the order's sellers either: a payment is the whole order's (total, card, bank
    reference, what was captured for the others); a seller follows its part through its
    sub-order."""
    buyer_a, buyer_b = make_user(Role.BUYER), make_user(Role.BUYER)
    seller_in, seller_out, staff = (
        make_user(Role.SELLER),
        make_user(Role.SELLER),
        make_user(Role.STAFF),
    )
    order = make_order(buyer=buyer_a, sellers=[seller_in, make_user(Role.SELLER)])
    payment_id = pay_card(client_for(buyer_a), order, ALL_TEST_CARDS[0]).json()["id"]
    other_order = make_order(buyer=buyer_b)
    other_id = pay_card(client_for(buyer_b), other_order, ALL_TEST_CARDS[0]).json()["id"]

    for user, visible in [
        (buyer_a, True),
        (seller_in, False),
        (staff, True),
        (buyer_b, False),
        (seller_out, False),
    ]:
        client = client_for(user)
        response = client.get(f"{API}{payment_id}/")
        assert response.status_code == (200 if visible else 404), user.email
        if not visible:
            assert response.json()["error"]["code"] == "not_found"
        listed = {p["id"] for p in client.get(API).json()["results"]}
        assert (payment_id in listed) == visible
    assert {p["id"] for p in client_for(buyer_a).get(API).json()["results"]} == {payment_id}
    assert {p["id"] for p in client_for(staff).get(API).json()["results"]} == {payment_id, other_id}
    assert Client().get(f"{API}{payment_id}/").status_code in (401, 403)


def test_capture_and_void_are_for_staff_only():
    buyer, staff = make_user(Role.BUYER), make_user(Role.STAFF)
    order = make_order(buyer=buyer)
    payment_id = pay_card(client_for(buyer), order, ALL_TEST_CARDS[0]).json()["id"]
    response = client_for(buyer).post(f"{API}{payment_id}/capture/")
    assert response.status_code == 403
    assert Payment.objects.get(pk=payment_id).status == "authorized"
    assert client_for(make_user(Role.BUYER)).post(f"{API}{payment_id}/capture/").status_code == 404
    sub_orders = list(order.sub_orders.order_by("id"))
    captured = client_for(staff).post(
        f"{API}{payment_id}/capture/",
        json.dumps({"sub_order_amounts": {str(sub_orders[0].id): 1000}}),
        content_type="application/json",
    )
    assert captured.status_code == 200, captured.content
    assert (captured.json()["status"], captured.json()["captured_minor"]) == ("captured", 1000)
    assert client_for(staff).post(f"{API}{payment_id}/void/").status_code == 409


def test_staff_void_releases_the_authorisation():
    buyer, staff = make_user(Role.BUYER), make_user(Role.STAFF)
    payment_id = pay_card(client_for(buyer), make_order(buyer=buyer), ALL_TEST_CARDS[0]).json()[
        "id"
    ]
    response = client_for(staff).post(f"{API}{payment_id}/void/")
    assert (response.status_code, response.json()["status"]) == (200, "voided")


def test_payment_methods_are_the_buyers_own_cards(buyer, other_buyer):
    client = client_for(buyer)
    pay_card(client, make_order(buyer=buyer), ALL_TEST_CARDS[0])
    cards = client.get("/api/v1/payment-methods/").json()["results"]
    assert len(cards) == 1
    assert set(cards[0]) == {"token", "brand", "last4", "exp_month", "exp_year", "created_at"}
    assert (cards[0]["brand"], cards[0]["last4"], cards[0]["exp_month"], cards[0]["exp_year"]) == (
        "visa",
        "4242",
        12,
        2030,
    )
    token = cards[0]["token"]
    stranger = client_for(other_buyer)
    assert stranger.get("/api/v1/payment-methods/").json()["results"] == []
    assert stranger.get(f"/api/v1/payment-methods/{token}/").status_code == 404
    assert stranger.delete(f"/api/v1/payment-methods/{token}/").status_code == 404
    assert client.delete(f"/api/v1/payment-methods/{token}/").status_code == 204
    assert client.get("/api/v1/payment-methods/").json()["results"] == []
    assert bytes(VaultedCard.objects.get(token=token).ciphertext) == b""


def test_payment_pages_only_for_the_buyer_staff_or_the_link_holder(buyer):
    body = pay_card(client_for(buyer), make_order(buyer=buyer), THREE_DS).json()
    url = body["next_action"]["url"]
    bare = url.split("?")[0]
    assert client_for(buyer).get(bare).status_code == 200  # logged-in buyer, no token needed
    assert client_for(make_user(Role.STAFF)).get(bare).status_code == 200
    assert client_for(make_user(Role.BUYER)).get(bare).status_code == 404
    assert Client().get(bare).status_code == 404
    assert Client().get(bare + "?t=forged").status_code == 404
    assert Client().get(url).status_code == 200  # a guest holding the link
    # A token for one payment does not open another's page.
    other = pay_card(client_for(buyer), make_order(buyer=buyer), THREE_DS).json()
    assert Client().get(f"/pay/3ds/{other['id']}/?{url.split('?')[1]}").status_code == 404
    # Nor a page of another method.
    assert client_for(buyer).get(f"/pay/bank/{body['id']}/").status_code == 404


def test_vaulted_card_admin_shows_no_card_data(buyer):
    staff = make_user(Role.STAFF)
    staff.is_superuser = True
    staff.save()
    pay_card(client_for(buyer), make_order(buyer=buyer), ALL_TEST_CARDS[0])
    card = VaultedCard.objects.get()
    page = verify_second_factor(Client(), staff).get(
        f"/admin/payments/vaultedcard/{card.pk}/change/"
    )
    assert page.status_code == 200
    assert b"4242424242424242" not in page.content and b"iphertext" not in page.content
    payment_page = verify_second_factor(Client(), staff).get(
        f"/admin/payments/payment/{Payment.objects.get().pk}/change/"
    )
    assert payment_page.status_code == 200 and b"4242424242424242" not in payment_page.content


def test_only_the_buyer_gets_the_links_to_the_payment_pages():
    buyer, seller, staff = make_user(Role.BUYER), make_user(Role.SELLER), make_user(Role.STAFF)
    order = make_order(buyer=buyer, sellers=[seller, make_user(Role.SELLER)])
    body = pay_card(client_for(buyer), order, THREE_DS).json()
    assert body["next_action"]["type"] == "redirect"
    seen = client_for(staff).get(f"{API}{body['id']}/").json()
    assert (seen["status"], seen["next_action"]) == ("requires_action", None)
    assert client_for(seller).get(f"{API}{body['id']}/").status_code == 404
