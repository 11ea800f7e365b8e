"""Storefront pages: browse, cart, checkout, order status (live with htmx), hosted checkout sessions.

Thin views: forms shape the input, services decide. Every page works without JavaScript; htmx only
refreshes the status panel. Objects that are not the viewer's are answered with 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from payments import conf
from payments.catalog.models import Product
from payments.checkout import cart as carts
from payments.checkout.forms import (
    GuestEmailForm,
    PaymentMethodForm,
    QuantityForm,
    ShippingAddressForm,
)
from payments.checkout.payment import checkout_pay
from payments.checkout.sessions import (
    checkout_session_get_public,
    checkout_session_latest_payment,
    checkout_session_start_order,
)
from payments.fulfilment.order_page import annotate_release_rows, order_timeline
from payments.orders.models import CheckoutSessionStatus, Order, OrderStatus
from payments.orders.selectors import (
    escrow_holdings,
    order_awaits_sellers,
    order_can_pay_again,
    order_get_for_buyer,
    order_is_live,
    order_latest_payment,
)
from payments.orders.services import order_create_from_cart, order_expire, order_reopen_for_payment

PRODUCTS_PER_PAGE = 24


def _actor(request: HttpRequest) -> str:
    user = request.user
    if user.is_authenticated:
        return f"{user.role}:{user.pk}"
    return "buyer:guest"


# --- browse --------------------------------------------------------------------------------------


@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    products = (
        Product.objects.filter(is_active=True)
        .select_related("seller")
        .order_by("-created_at", "-id")
    )
    query = (request.GET.get("q") or "").strip()[:100]
    if query:
        products = products.filter(Q(title__icontains=query) | Q(description__icontains=query))
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "shop/product_list.html", {"page": page, "query": query})


@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = Product.objects.filter(pk=product_id, is_active=True).select_related("seller").first()
    if product is None:
        raise Http404("No such product.")
    return render(request, "shop/product_detail.html", {"product": product, "form": QuantityForm()})


# --- cart ----------------------------------------------------------------------------------------


@require_GET
def cart_page(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/cart.html", {"summary": carts.cart_summary(request=request)})


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    form = QuantityForm(request.POST)
    product = Product.objects.filter(pk=product_id, is_active=True).select_related("seller").first()
    if product is None:
        raise Http404("No such product.")
    if form.is_valid():
        try:
            carts.cart_add(
                request=request, product_id=product_id, quantity=form.cleaned_data["quantity"]
            )
        except ApplicationError as error:
            form.add_error("quantity" if error.field == "quantity" else None, error.message)
        else:
            messages.success(request, f"Added “{product.title}” to your cart.")
            return redirect("payments:cart")
    return render(
        request, "shop/product_detail.html", {"product": product, "form": form}, status=400
    )


@require_POST
def cart_update(request: HttpRequest, product_id: int) -> HttpResponse:
    try:
        if request.POST.get("action") == "remove":
            carts.cart_remove(request=request, product_id=product_id)
            messages.success(request, "Removed from your cart.")
        else:
            carts.cart_set_quantity(
                request=request, product_id=product_id, quantity=request.POST.get("quantity", "")
            )
            messages.success(request, "Cart updated.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("payments:cart")


# --- checkout ------------------------------------------------------------------------------------


def _checkout_context(request: HttpRequest, **forms: Any) -> dict:
    return {"summary": carts.cart_summary(request=request), **forms}


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        summary = carts.cart_summary(request=request)
        if summary.is_empty:
            messages.info(request, "Your cart is empty.")
            return redirect("payments:cart")
        return render(
            request,
            "shop/checkout.html",
            {
                "summary": summary,
                "address_form": ShippingAddressForm(prefix="ship"),
                "method_form": PaymentMethodForm(prefix="pay"),
                "checkout_token": uuid.uuid4(),
            },
        )

    address_form = ShippingAddressForm(request.POST, prefix="ship")
    method_form = PaymentMethodForm(request.POST, prefix="pay")
    token = _parse_token(request.POST.get("checkout_token"))
    context = {
        "address_form": address_form,
        "method_form": method_form,
        "checkout_token": token or uuid.uuid4(),
    }
    if token is not None:
        # The same form submitted twice (double click, back button): show the first order.
        existing = Order.objects.filter(checkout_token=token, buyer=request.user).first()
        if existing is not None:
            return redirect("payments:order", order_id=existing.pk)
    # Validate the card before anything is reserved: a typo must change nothing.
    if not (address_form.is_valid() and method_form.is_valid()):
        return render(
            request, "shop/checkout.html", _checkout_context(request, **context), status=400
        )
    try:
        order = order_create_from_cart(
            buyer=request.user,
            cart_lines=carts.cart_lines(request=request),
            shipping_address=address_form.address,
            checkout_token=token,
        )
    except ApplicationError as error:
        context["checkout_error"] = error.message
        return render(
            request, "shop/checkout.html", _checkout_context(request, **context), status=400
        )
    carts.cart_clear(request=request)
    if order.status != OrderStatus.AWAITING_PAYMENT or order_latest_payment(order) is not None:
        # The same form submitted twice: the first submission is already on its way.
        return redirect("payments:order", order_id=order.pk)
    return _pay_and_redirect(request, order, method_form, session=None)


def _parse_token(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _pay_and_redirect(
    request: HttpRequest, order: Order, method_form: PaymentMethodForm, *, session: Any
) -> HttpResponse:
    method, wallet = method_form.method_and_wallet
    if session is None:
        return_path = reverse("payments:order", kwargs={"order_id": order.pk})
        retry_path = reverse("payments:order_pay", kwargs={"order_id": order.pk})
    else:
        return_path = retry_path = reverse("payments:session", kwargs={"session_id": session.pk})
    outcome = checkout_pay(
        order=order,
        method=method,
        wallet=wallet,
        card=method_form.card,
        actor=_actor(request),
        return_url=return_path,  # a path on this site (the payment side refuses anything else)
    )
    if outcome.next_url:
        return redirect(outcome.next_url)
    if outcome.paid:
        if session is None:
            messages.success(request, f"Thank you! Order {order.number} is paid.")
        return redirect(return_path)
    if outcome.failure_message:
        messages.error(request, outcome.failure_message)
    return redirect(retry_path)


# --- orders --------------------------------------------------------------------------------------


def _order_or_404(request: HttpRequest, order_id: Any) -> Order:
    try:
        order = order_get_for_buyer(user=request.user, order_id=order_id)
    except NotFound:
        raise Http404("No such order.") from None
    if (
        order.status in (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYMENT_FAILED)
        and order.expires_at is not None
        and order.expires_at <= _now()
    ):
        order_expire(order=order)  # the check on access, beside the beat task
    return order


def _now():
    from django.utils import timezone

    return timezone.now()


def _status_context(order: Order, *, status_url: str) -> dict:
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
    return _status_context(
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
    from payments.fulfilment.release_views import DisputeForm

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
    return _pay_and_redirect(request, order, method_form, session=None)


# --- hosted checkout session --------------------------------------------------------------------


def _session_or_404(session_id: Any):
    try:
        return checkout_session_get_public(session_id=session_id)
    except NotFound:
        raise Http404("No such checkout session.") from None


def _session_context(session: Any, **extra: Any) -> dict:
    context = {"session": session, "payment": checkout_session_latest_payment(session), **extra}
    if session.order_id is not None:
        context.update(
            _status_context(
                session.order,
                status_url=reverse("payments:session_status", kwargs={"session_id": session.pk}),
            )
        )
    context["session_open"] = session.status == CheckoutSessionStatus.OPEN
    context["can_pay"] = context["session_open"] and (
        session.order_id is None or context.get("can_pay_again", False)
    )
    return context


@require_http_methods(["GET", "POST"])
def session_page(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session_or_404(session_id)
    if request.method == "GET":
        email_form = GuestEmailForm(
            initial={
                "email": session.customer_email
                or (request.user.email if request.user.is_authenticated else "")
            }
        )
        return render(
            request,
            "shop/session.html",
            _session_context(
                session, email_form=email_form, method_form=PaymentMethodForm(prefix="pay")
            ),
        )
    email_form = GuestEmailForm(request.POST)
    method_form = PaymentMethodForm(request.POST, prefix="pay")
    context = _session_context(session, email_form=email_form, method_form=method_form)
    if not context["can_pay"]:
        return redirect("payments:session", session_id=session.pk)
    if not (email_form.is_valid() and method_form.is_valid()):
        return render(request, "shop/session.html", context, status=400)
    try:
        order = checkout_session_start_order(
            session_id=session.pk,
            buyer_email=email_form.cleaned_data["email"],
            buyer=request.user if request.user.is_authenticated else None,
        )
    except ApplicationError as error:
        context["checkout_error"] = error.message
        return render(request, "shop/session.html", context, status=400)
    return _pay_and_redirect(request, order, method_form, session=session)


@require_GET
def session_status_partial(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _session_or_404(session_id)
    if session.order_id is None:
        return HttpResponse(status=204)
    return render(request, "orders/_status.html", _session_context(session))


@require_GET
def session_cancel(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """ "Back to the shop": the buyer leaves; the session stays open until it expires."""
    session = _session_or_404(session_id)
    return redirect(session.cancel_url)
