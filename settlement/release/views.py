"""The release side's page: the buyer confirms receipt from the order page. A GET asks first,
naming the amount that will be released and to which seller; the POST confirms. Thin: the
service decides; anything that is not the viewer's is a 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, NotFound
from payments.fulfilment.order_page import annotate_release_rows
from payments.orders.models import SubOrder
from payments.orders.selectors import escrow_holdings
from payments.templatetags.storefront_tags import money
from settlement.release.services import sub_order_confirm


def _actor(request: HttpRequest) -> str:
    return f"{request.user.role}:{request.user.pk}"


def _buyer_sub_order(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> SubOrder:
    sub_order = (
        SubOrder.objects.filter(pk=sub_order_id, order_id=order_id, order__buyer=request.user)
        .select_related("order", "seller")
        .first()
    )
    if sub_order is None:
        raise Http404("No such order.")
    return sub_order


def _seller_name(sub_order: SubOrder) -> str:
    return sub_order.seller.display_name or sub_order.seller.email


def release_amount_minor(sub_order: SubOrder) -> int:
    """What confirming releases to the seller: what escrow holds for the part after refunds
    (the order page's own rule, payments.fulfilment.order_page)."""
    rows = [{"sub_order": sub_order, "escrow": escrow_holdings([sub_order])[sub_order.pk]}]
    return annotate_release_rows(rows)


@login_required
@require_http_methods(["GET", "POST"])
def order_confirm(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> HttpResponse:
    sub_order = _buyer_sub_order(request, order_id, sub_order_id)
    amount = money(release_amount_minor(sub_order), sub_order.currency)
    seller = _seller_name(sub_order)
    if request.method == "GET":
        return render(
            request,
            "orders/confirm_receipt.html",
            {"sub_order": sub_order, "order": sub_order.order, "amount": amount, "seller": seller},
        )
    try:
        sub_order_confirm(sub_order_id=sub_order_id, buyer=request.user, actor=_actor(request))
    except NotFound:
        raise Http404("No such order.") from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Receipt confirmed: {amount} released to {seller}.")
    return redirect("payments:order", order_id=order_id)
