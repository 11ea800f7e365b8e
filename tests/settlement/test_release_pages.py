"""The buyer's order page (confirm, dispute, refunds, timeline, live status) and the seller's
refund page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from payments.fulfilment.models import Refund
from payments.models import SubOrder
from payments.orders.events import record_order_event
from tests.lifecycle.release_fixtures import *  # noqa: F403
from tests.lifecycle.release_fixtures import (
    balance,
    client_for,
    make_seller,
    paid_order,
    reload,
    run_refund_tasks,
)

pytestmark = pytest.mark.django_db


def order_url(order):
    return reverse("payments:order", args=[order.pk])


def test_buyer_confirms_receipt_from_the_order_page(buyer):
    seller = make_seller("standard")
    order, _payment, [sub] = paid_order(buyer=buyer, sellers=[seller])
    client = client_for(buyer)
    body = client.get(order_url(order)).content.decode()
    assert f'data-testid="confirm-{sub.pk}"' in body
    assert "Open a dispute" in body
    confirm = reverse("payments:order_confirm", args=[order.pk, sub.pk])
    # The button asks first: what is released, to whom; nothing changes yet.
    asked = client.get(confirm).content.decode()
    assert f"releases <strong>€100.00</strong> from escrow to <strong>{_name(sub)}" in asked
    assert reload(sub).status != "confirmed"
    response = client.post(confirm, follow=True)
    assert response.redirect_chain[-1][1] == 302
    assert f"Receipt confirmed: €100.00 released to {_name(sub)}." in response.content.decode()
    assert reload(sub).status == "confirmed"
    assert balance(f"seller:{seller.pk}:pending") == 9710
    body = client.get(order_url(order)).content.decode()
    assert "Receipt confirmed" in body and "Released to the seller" in body
    assert f'data-testid="confirm-{sub.pk}"' not in body
    # The timeline names who did what, and for which seller, in words.
    assert f'Receipt confirmed · {_seller_span(sub)} <span class="muted">(You)</span>' in body
    assert "Money released to the seller" in body


def _name(sub):
    return sub.seller.display_name or sub.seller.email


def _seller_span(sub):
    return f'<span data-testid="timeline-seller">{_name(sub)}</span>'


def test_confirm_needs_csrf(buyer):
    order, _payment, [sub] = paid_order(buyer=buyer)
    client = client_for(buyer)
    client.handler.enforce_csrf_checks = True
    response = client.post(reverse("payments:order_confirm", args=[order.pk, sub.pk]))
    assert response.status_code == 403
    assert reload(sub).status == "shipped"


def test_no_confirm_button_before_acceptance_and_a_message_if_forced(buyer):
    order, _payment, [sub] = paid_order(buyer=buyer, status="awaiting_acceptance")
    client = client_for(buyer)
    body = client.get(order_url(order)).content.decode()
    assert f'data-testid="confirm-{sub.pk}"' not in body
    response = client.post(reverse("payments:order_confirm", args=[order.pk, sub.pk]), follow=True)
    assert "The seller has not accepted this order yet" in response.content.decode()
    assert reload(sub).status == "awaiting_acceptance"


def test_buyer_b_gets_404_on_buyer_as_order_actions(buyer, other_buyer):
    order, _payment, [sub] = paid_order(buyer=buyer)
    client = client_for(other_buyer)
    assert (
        client.post(reverse("payments:order_confirm", args=[order.pk, sub.pk])).status_code == 404
    )
    dispute = reverse("payments:order_dispute", args=[order.pk, sub.pk])
    assert client.post(dispute, {f"dispute-{sub.pk}-reason": "x"}).status_code == 404
    assert reload(sub).status == "shipped"


def test_dispute_form_shows_the_error_beside_the_field(buyer):
    order, _payment, [sub] = paid_order(buyer=buyer)
    client = client_for(buyer)
    dispute = reverse("payments:order_dispute", args=[order.pk, sub.pk])
    response = client.post(dispute, {f"dispute-{sub.pk}-reason": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="id_dispute-{sub.pk}-reason_error"' in body
    assert reload(sub).status == "shipped"
    response = client.post(dispute, {f"dispute-{sub.pk}-reason": "The lid is cracked"})
    assert response.status_code == 302
    body = client.get(order_url(order)).content.decode()
    assert "Dispute opened" in body and "The lid is cracked" in body
    assert reload(sub).status == "disputed"


def test_dispute_after_the_window_shows_the_error_beside_the_field(buyer):
    order, _payment, [sub] = paid_order(buyer=buyer, confirm_in=timedelta(days=1))
    client = client_for(buyer)
    dispute = reverse("payments:order_dispute", args=[order.pk, sub.pk])
    with freeze_time(timezone.now() + timedelta(days=2)):
        response = client.post(dispute, {f"dispute-{sub.pk}-reason": "Too late?"})
    assert response.status_code == 400
    assert "The time to dispute this order has passed" in response.content.decode()
    assert reload(sub).status == "shipped"


def test_status_partial_shows_sub_order_statuses_live(buyer):
    order, _payment, [sub] = paid_order(buyer=buyer, status="awaiting_acceptance")
    order.status = "paid"
    order.save(update_fields=["status"])
    client = client_for(buyer)
    status_url = reverse("payments:order_status", args=[order.pk])
    partial = client.get(status_url).content.decode()
    assert "Paid, awaiting seller" in partial
    assert 'hx-trigger="every 15s"' in partial
    SubOrder.objects.filter(pk=sub.pk).update(status="accepted")  # the seller accepts
    partial = client.get(status_url).content.decode()
    assert f'data-testid="sub-order-status-{sub.pk}">Accepted by seller' in partial
    assert 'hx-trigger="every 15s"' in partial  # still polling: shipping is next
    assert f'data-testid="confirm-{sub.pk}"' in partial


def test_timeline_lists_every_event_with_its_actor_in_words(buyer, refund_tasks):
    order, _payment, [sub] = paid_order(buyer=buyer)
    record_order_event(
        order=order, sub_order=sub, kind="order.accepted", actor=f"seller:{sub.seller_id}"
    )
    record_order_event(
        order=order, sub_order=sub, kind="order.shipped", actor=f"seller:{sub.seller_id}"
    )
    from payments.fulfilment.refunds import refund_create

    refund_create(sub_order_id=sub.pk, amount_minor=1000, reason="Late", actor="staff:9")
    run_refund_tasks(refund_tasks)
    body = client_for(buyer).get(order_url(order)).content.decode()
    seller = _seller_span(sub)
    assert f'Accepted by seller · {seller} <span class="muted">(Seller)</span>' in body
    assert f'Refund requested · {seller} <span class="muted">(Staff)</span>: €10.00' in body
    assert f'Refund paid back · {seller} <span class="muted">(Staff)</span>: €10.00' in body
    assert f'data-testid="refunds-{sub.pk}"' in body
    assert "€10.00 · succeeded" in body
    assert 'data-testid="escrow-total"><strong>€90.00</strong>' in body


def test_seller_refunds_from_the_refund_page(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    client = client_for(sub.seller)
    url = reverse("payments:seller_order_refund", args=[sub.pk])
    assert url == f"/seller/orders/{sub.pk}/refund/"
    page = client.get(url)
    assert page.status_code == 200
    # A German seller: the page writes amounts the German way, and reads them so too.
    assert 'data-testid="refundable">100,00\xa0€' in page.content.decode()
    assert "e.g. 12,50" in page.content.decode()
    response = client.post(url, {"amount": "12,50", "reason": "Scratched"})
    assert response.status_code == 302
    refund = Refund.objects.get()
    assert (refund.amount_minor, refund.actor) == (1250, f"seller:{sub.seller_id}")
    run_refund_tasks(refund_tasks)
    assert balance("platform:escrow") == 8750


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12,505", "no more decimals"),
        ("12.505", "no more decimals"),  # never read as 12,505 (German grouping)
        ("1.234,50", "no more decimals"),  # no thousands separator in a refund
        ("abc", "Enter an amount in EUR"),
        ("0", "above zero"),
        ("100.01", "left to refund"),
    ],
)
def test_refund_page_errors_beside_the_field(buyer, amount, message):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    response = client_for(sub.seller).post(
        reverse("payments:seller_order_refund", args=[sub.pk]), {"amount": amount, "reason": "x"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_amount_error"' in body and message in body
    assert not Refund.objects.exists()


def test_refund_page_reason_is_required(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    response = client_for(sub.seller).post(
        reverse("payments:seller_order_refund", args=[sub.pk]), {"amount": "1.00", "reason": ""}
    )
    assert response.status_code == 400
    assert 'id="id_reason_error"' in response.content.decode()


def test_seller_a_cannot_refund_seller_bs_order_on_the_page(buyer):
    _order, _payment, [sub] = paid_order(buyer=buyer)
    url = reverse("payments:seller_order_refund", args=[sub.pk])
    assert client_for(make_seller()).get(url).status_code == 404
    assert client_for(make_seller()).post(url, {"amount": "1.00", "reason": "x"}).status_code == 404
    assert client_for(buyer).get(url).status_code == 404
    assert not Refund.objects.exists()


def test_jpy_refund_page_parses_whole_yen(buyer, refund_tasks):
    seller = make_seller("standard", currency="JPY")
    _order, _payment, [sub] = paid_order(
        buyer=buyer, sellers=[seller], amounts=(5000,), currency="JPY"
    )
    client = client_for(seller)
    url = reverse("payments:seller_order_refund", args=[sub.pk])
    assert client.post(url, {"amount": "12,5", "reason": "x"}).status_code == 400
    assert client.post(url, {"amount": "1.200", "reason": "x"}).status_code == 400  # 1.2 or 1200?
    assert client.post(url, {"amount": "1200", "reason": "x"}).status_code == 302
    assert Refund.objects.get().amount_minor == 1200


def test_the_refund_page_still_reads_a_plain_amount_with_a_dot(buyer, refund_tasks):
    _order, _payment, [sub] = paid_order(buyer=buyer, amounts=(10000,))
    url = reverse("payments:seller_order_refund", args=[sub.pk])
    assert client_for(sub.seller).post(url, {"amount": "12.50", "reason": "x"}).status_code == 302
    assert Refund.objects.get().amount_minor == 1250
