"""The hosted Checkout Session pages: the buyer pays a seller's shop's session as a guest or signed
in; the page follows the order's status as the order page does.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError, NotFound
from payments.checkout.forms import GuestEmailForm, PaymentMethodForm
from payments.checkout.order_views import order_status_context
from payments.checkout.sessions import (
    checkout_session_get_public,
    checkout_session_latest_payment,
    checkout_session_start_order,
)
from payments.checkout.views import pay_and_redirect
from payments.orders.models import CheckoutSessionStatus


def _session_or_404(session_id: Any):
    try:
        return checkout_session_get_public(session_id=session_id)
    except NotFound:
        raise Http404("No such checkout session.") from None


def _session_context(session: Any, **extra: Any) -> dict:
    context = {"session": session, "payment": checkout_session_latest_payment(session), **extra}
    if session.order_id is not None:
        context.update(
            order_status_context(
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
    return pay_and_redirect(request, order, method_form, session=session)


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
