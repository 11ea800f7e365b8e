"""Storefront pages: browse, cart, checkout (the buyer's order pages are checkout/order_views.py,
the hosted checkout session pages checkout/session_views.py).

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

from core.errors import ApplicationError
from payments.catalog.models import Product
from payments.checkout import cart as carts
from payments.checkout.forms import PaymentMethodForm, QuantityForm, ShippingAddressForm
from payments.checkout.payment import checkout_pay
from payments.flows.selectors import order_latest_payment
from payments.orders.models import Order, OrderStatus
from payments.orders.services import order_create_from_cart

PRODUCTS_PER_PAGE = 24


def _actor(request: HttpRequest) -> str:
    user = request.user
    if user.is_authenticated:
        return f"{user.role}:{user.pk}"
    return "buyer:guest"


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
    return pay_and_redirect(request, order, method_form, session=None)


def _parse_token(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def pay_and_redirect(
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
