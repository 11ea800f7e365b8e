"""The buyer's order pages: the list, the order page with its status panel (live with htmx),
paying an unpaid order again, opening a dispute from it.

Thin views: forms shape the input, services decide. Objects that are not the viewer's are 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from payments import conf
from payments.checkout.forms import DisputeForm, PaymentMethodForm
from payments.checkout.views import pay_and_redirect
from payments.flows.selectors import order_can_pay_again, order_is_live, order_latest_payment
from payments.fulfilment.disputes import dispute_open
from payments.fulfilment.order_page import annotate_release_rows, order_timeline
from payments.fulfilment.order_summary import summarise
from payments.orders.expiry import order_expire
from payments.orders.models import Order, OrderStatus, SubOrder
from payments.orders.payment_outcomes import order_reopen_for_payment
from payments.orders.selectors import escrow_holdings, order_awaits_sellers, order_get_for_buyer


def _order_or_404(request: HttpRequest, order_id: Any) -> Order:
    try:
        order = order_get_for_buyer(user=request.user, order_id=order_id)
    except NotFound:
        raise Http404("No such order.") from None
    if (
        order.status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED)
        and order.expires_at is not None
        and order.expires_at <= timezone.now()
    ):
        order_expire(order=order)  # the check on access, beside the beat task
    return order


def order_status_context(order: Order, *, status_url: str) -> dict:
    sub_orders = list(
        order.sub_orders.all().select_related("seller").prefetch_related("lines").order_by("id")
    )
    payment = order_latest_payment(order)
    holdings = escrow_holdings(sub_orders)
    rows = [{"sub_order": s, "escrow": holdings[s.id]} for s in sub_orders]
    # Release side: actions (confirm, dispute), refunds, escrow left after refunds.
    escrow_total_minor = annotate_release_rows(rows)
    live = order_is_live(order, sub_orders, payment)
    poll_seconds = 0
    if live:
        poll_seconds = 2
    elif order_awaits_sellers(order, sub_orders):
        poll_seconds = int(conf.get("ORDER_PAGE_SELLER_POLL_S"))
    return {
        **summarise(order, rows, payment),  # headline, payment line, where each part's money is
        "order": order,
        "rows": rows,
        "payment": payment,
        "escrow_total_minor": escrow_total_minor,
        "live": live,
        "poll_seconds": poll_seconds,
        "can_pay_again": order_can_pay_again(order, payment),
        "status_url": status_url,
    }


def _order_status_context(order: Order) -> dict:
    return order_status_context(
        order, status_url=reverse("payments:order_status", kwargs={"order_id": order.pk})
    )


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.filter(buyer=request.user).order_by("-created_at")
    page = Paginator(orders, 20).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page": page})


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    return order_detail_response(request, order_id)


def order_detail_response(
    request: HttpRequest, order_id: Any, *, dispute_forms: dict | None = None, status: int = 200
) -> HttpResponse:
    """The buyer's order page; the dispute view renders it again with its form's errors."""
    order = _order_or_404(request, order_id)
    context = _order_status_context(order)
    dispute_forms = dispute_forms or {}
    for row in context["rows"]:
        pk = row["sub_order"].pk
        row["dispute_form"] = dispute_forms.get(pk) or DisputeForm(prefix=f"dispute-{pk}")
    context["timeline"] = order_timeline(order, viewer=request.user)
    return render(request, "orders/order_detail.html", context, status=status)


@login_required
@require_GET
def order_status_partial(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = _order_or_404(request, order_id)
    return render(request, "orders/_status.html", _order_status_context(order))


@login_required
@require_http_methods(["GET", "POST"])
def order_pay(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    """Pay an unpaid order again, e.g. with another card or method after a decline."""
    order = _order_or_404(request, order_id)
    payment = order_latest_payment(order)
    if not order_can_pay_again(order, payment):
        return redirect("payments:order", order_id=order.pk)
    if request.method == "GET":
        return render(
            request,
            "orders/order_pay.html",
            {"order": order, "payment": payment, "method_form": PaymentMethodForm(prefix="pay")},
        )
    method_form = PaymentMethodForm(request.POST, prefix="pay")
    if not method_form.is_valid():
        return render(
            request,
            "orders/order_pay.html",
            {"order": order, "payment": payment, "method_form": method_form},
            status=400,
        )
    try:
        order = order_reopen_for_payment(order=order)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("payments:order", order_id=order.pk)
    return pay_and_redirect(request, order, method_form, session=None)


def _actor(request: HttpRequest) -> str:
    return f"{request.user.role}:{request.user.pk}"


def _buyer_sub_order(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> SubOrder:
    sub_order = SubOrder.objects.filter(
        pk=sub_order_id, order_id=order_id, order__buyer=request.user
    ).first()
    if sub_order is None:
        raise Http404("No such order.")
    return sub_order


@login_required
@require_POST
def order_dispute(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> HttpResponse:
    _buyer_sub_order(request, order_id, sub_order_id)
    form = DisputeForm(request.POST, prefix=f"dispute-{sub_order_id}")
    if form.is_valid():
        try:
            dispute_open(
                sub_order_id=sub_order_id,
                buyer=request.user,
                reason=form.cleaned_data["reason"],
                actor=_actor(request),
            )
        except NotFound:
            raise Http404("No such order.") from None
        except ApplicationError as error:
            form.add_error("reason", error.message)
        else:
            messages.success(request, "Dispute opened: staff will look at it.")
            return redirect("payments:order", order_id=order_id)
    return order_detail_response(request, order_id, dispute_forms={sub_order_id: form}, status=400)
