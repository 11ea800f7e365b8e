"""A seller's order (sub-order) page, and accept / reject / ship / refund / open the sealed
document; the list of orders is the seller dashboard's (settlement/dashboard/orders.py). Thin:
forms collect, payments.fulfilment.acceptance decides. Another seller's order is a 404; every
form posts with CSRF; errors show beside the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import KeyOrigin
from accounts.money_format import (
    amount_example,
    format_money,
    parse_typed_amount,
    user_money_locale,
)
from core.errors import ApplicationError, NotFound
from payments.catalog.views import seller_required
from payments.fulfilment.acceptance import sub_order_get_for_seller
from payments.fulfilment.dashboard_acceptance import (
    sealed_document_open_with_password,
    sub_order_accept_with_password,
)
from payments.fulfilment.documents import document_associated_data, order_document_ensure
from payments.fulfilment.order_page import timeline_entries
from payments.fulfilment.refunds import refund_create, refundable_minor
from payments.fulfilment.rejection import sub_order_reject
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.orders.models import OrderEvent, SubOrder, SubOrderStatus


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="It unlocks your dashboard key; it is not stored.",
    )


class AcceptForm(PasswordForm):
    prefix = "accept"


class RejectForm(forms.Form):
    prefix = "reject"
    reason = forms.CharField(
        label="Reason (shown to the buyer)",
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ShipForm(forms.Form):
    prefix = "ship"
    tracking = forms.CharField(
        label="Tracking note (optional)",
        required=False,
        max_length=200,
        help_text="Carrier and tracking number, e.g. DHL 00340434161234567890",
    )


class RefundForm(forms.Form):
    amount = forms.CharField(
        label="Amount to refund",
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    reason = forms.CharField(label="Reason", max_length=255)

    def __init__(self, *args, currency: str, locale: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency, self.locale = currency, locale
        self.example = amount_example(currency, locale)
        self.fields["amount"].help_text = f"In {currency}, e.g. {self.example}"

    def clean_amount(self) -> int:
        # The seller's decimal separator, as the page writes amounts ("12,50" in de_DE), or a dot;
        # no thousands separator: "1.250" is refused, not read as 1,250.
        try:
            amount_minor = parse_typed_amount(
                self.cleaned_data["amount"], self.currency, self.locale
            )
        except ValueError as exc:
            raise forms.ValidationError(
                f"Enter an amount in {self.currency}, e.g. {self.example} (no more decimals "
                "than it has)."
            ) from exc
        if amount_minor <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        return amount_minor


def _apply_error(form: forms.Form, error: ApplicationError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _own(request: HttpRequest, sub_order_id: int) -> SubOrder:
    try:
        return sub_order_get_for_seller(seller=request.user, sub_order_id=sub_order_id)
    except NotFound:
        raise Http404("No such order.") from None


def _actor(request: HttpRequest) -> str:
    return f"seller:{request.user.pk}"


def _detail(
    request: HttpRequest, sub_order: SubOrder, *, status: int = 200, **forms_
) -> HttpResponse:
    context = {
        "sub_order": sub_order,
        "order": sub_order.order,
        "lines": sub_order.lines.order_by("id"),
        # This seller's part only: order-level payment events carry the whole order's figures.
        "timeline": timeline_entries(
            OrderEvent.objects.filter(sub_order=sub_order),
            viewer=request.user,
            order=sub_order.order,
        ),
        "document": order_document_ensure(sub_order),
        "accept_form": forms_.get("accept_form") or AcceptForm(),
        "reject_form": forms_.get("reject_form") or RejectForm(),
        "ship_form": forms_.get("ship_form") or ShipForm(),
        "awaiting": sub_order.status == SubOrderStatus.AWAITING_ACCEPTANCE,
        "can_ship": sub_order.status == SubOrderStatus.ACCEPTED,
        "refund_path": f"/seller/orders/{sub_order.pk}/refund/" if sub_order.captured_minor else "",
    }
    return render(request, "seller/order_detail.html", context, status=status)


@seller_required
def order_detail(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    return _detail(request, _own(request, sub_order_id))


def _form_action(
    request: HttpRequest,
    sub_order_id: int,
    *,
    form_class: type[forms.Form],
    form_name: str,
    act: Callable[[SubOrder, dict], object],
    done: str,
) -> HttpResponse:
    """One seller action from a form on the order page: run the service, or show the form again
    with the error beside its field (status 400, nothing changed)."""
    sub_order = _own(request, sub_order_id)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(sub_order, form.cleaned_data)
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, done.format(number=sub_order.order.number))
            return redirect("payments:seller_order", sub_order.pk)
    return _detail(request, sub_order, status=400, **{form_name: form})


@seller_required
@require_POST
def order_accept(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    return _form_action(
        request,
        sub_order_id,
        form_class=AcceptForm,
        form_name="accept_form",
        act=lambda sub_order, data: sub_order_accept_with_password(
            sub_order_id=sub_order.pk,
            seller=request.user,
            password=data["password"],
            actor=_actor(request),
        ),
        done="You accepted order {number}: it is signed.",
    )


@seller_required
@require_POST
def order_reject(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    return _form_action(
        request,
        sub_order_id,
        form_class=RejectForm,
        form_name="reject_form",
        act=lambda sub_order, data: sub_order_reject(
            sub_order_id=sub_order.pk,
            seller=request.user,
            reason=data["reason"],
            actor=_actor(request),
        ),
        done="You rejected order {number}; the buyer gets the money back.",
    )


@seller_required
@require_POST
def order_ship(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    return _form_action(
        request,
        sub_order_id,
        form_class=ShipForm,
        form_name="ship_form",
        act=lambda sub_order, data: sub_order_mark_shipped(
            sub_order_id=sub_order.pk,
            seller=request.user,
            tracking=data["tracking"],
            actor=_actor(request),
        ),
        done="Order {number} is marked shipped.",
    )


@seller_required
@require_http_methods(["GET", "POST"])
def order_document(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    """The sealed document. Sealed to the dashboard key (the platform holds its private half,
    locked by the password): the password opens it here. Sealed to the seller's own key: the
    platform cannot open it, so the page says how to and offers the sealed bytes."""
    sub_order = _own(request, sub_order_id)
    document = order_document_ensure(sub_order)
    sealed = document is not None and document.sealed is not None
    if request.GET.get("download") == "sealed" and sealed:
        response = HttpResponse(bytes(document.sealed), content_type="application/octet-stream")
        name = f"order-{sub_order.order.number}-{sub_order.pk}.sealed"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store, max-age=0"
        return response
    platform_held = bool(
        sealed and document.seller_key and document.seller_key.origin == KeyOrigin.PLATFORM_HELD
    )
    form = PasswordForm(request.POST or None)
    context: dict[str, Any] = {
        "sub_order": sub_order,
        "document": document,
        "form": form,
        "platform_held": platform_held,
        "sealed": sealed,
        "associated_data": document_associated_data(sub_order.pk).decode(),
    }
    status = 200
    if request.method == "POST":
        status = 400
        if not platform_held:
            form.is_valid()
            form.add_error(
                None, "This document is sealed to your own key: open it with its private half."
            )
        elif form.is_valid():
            try:
                context["opened"] = sealed_document_open_with_password(
                    sub_order_id=sub_order.pk,
                    seller=request.user,
                    password=form.cleaned_data["password"],
                )
                status = 200
            except ApplicationError as error:
                _apply_error(form, error)
    response = render(request, "seller/order_document.html", context, status=status)
    response["Cache-Control"] = "no-store, max-age=0"  # the opened document is not cached
    return response


@login_required
@require_http_methods(["GET", "POST"])
def order_refund(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    """The seller of this sub-order refunds part or all of it (others: 404)."""
    sub_order = (
        SubOrder.objects.select_related("order")
        .filter(pk=sub_order_id, seller=request.user)
        .first()
    )
    if sub_order is None:
        raise Http404("No such order.")
    currency = sub_order.currency
    locale = user_money_locale(request.user)
    form = RefundForm(request.POST or None, currency=currency, locale=locale)
    if request.method == "POST" and form.is_valid():
        try:
            refund = refund_create(
                sub_order_id=sub_order.pk,
                amount_minor=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                actor=f"{request.user.role}:{request.user.pk}",
            )
        except ApplicationError as error:
            field = {"amount_minor": "amount"}.get(error.field or "", error.field)
            form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"Refund of {format_money(refund.amount_minor, currency, locale)} requested; "
                "it is paid back to the buyer shortly.",
            )
            return redirect("payments:seller_order_refund", sub_order_id=sub_order.pk)
    context = {
        "sub_order": sub_order,
        "money_locale": locale,  # read once, for the form and the page
        "form": form,
        "refundable_minor": refundable_minor(sub_order),
        "refunds": sub_order.refunds.order_by("-created_at"),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "seller/order_refund.html", context, status=status)
