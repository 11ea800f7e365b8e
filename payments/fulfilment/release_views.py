"""Pages of the release side: the buyer confirms receipt or opens a dispute (POST from the order
page), the seller refunds (its own page). Thin: forms shape input, services decide; anything that
is not the viewer's is a 404."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from core.money import Money
from payments.fulfilment.disputes import dispute_open
from payments.fulfilment.refunds import refund_create, refundable_minor
from payments.fulfilment.release import sub_order_confirm
from payments.orders.models import SubOrder
from payments.templatetags.storefront_tags import money


class DisputeForm(forms.Form):
    reason = forms.CharField(
        label="What went wrong?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Staff read this and decide; the money stays in escrow meanwhile.",
    )


class RefundForm(forms.Form):
    amount = forms.CharField(
        label="Amount to refund",
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    reason = forms.CharField(label="Reason", max_length=255)

    def __init__(self, *args, currency: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].help_text = f"In {currency}, e.g. 12.50"

    def clean_amount(self) -> int:
        try:
            amount = Money.parse(self.cleaned_data["amount"], self.currency)
        except ValueError as exc:
            raise forms.ValidationError(
                f"Enter an amount in {self.currency}, e.g. 12.50 (no more decimals than it has)."
            ) from exc
        if amount.amount_minor <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        return amount.amount_minor


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
def order_confirm(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> HttpResponse:
    _buyer_sub_order(request, order_id, sub_order_id)
    try:
        sub_order_confirm(sub_order_id=sub_order_id, buyer=request.user, actor=_actor(request))
    except NotFound:
        raise Http404("No such order.") from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Thank you: receipt confirmed and the seller paid.")
    return redirect("payments:order", order_id=order_id)


@login_required
@require_POST
def order_dispute(request: HttpRequest, order_id: uuid.UUID, sub_order_id: int) -> HttpResponse:
    from payments.checkout.views import order_detail_response

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


@login_required
@require_http_methods(["GET", "POST"])
def seller_order_refund(request: HttpRequest, sub_order_id: int) -> HttpResponse:
    """The seller of this sub-order refunds part or all of it (others: 404)."""
    sub_order = (
        SubOrder.objects.select_related("order")
        .filter(pk=sub_order_id, seller=request.user)
        .first()
    )
    if sub_order is None:
        raise Http404("No such order.")
    currency = sub_order.currency
    form = RefundForm(request.POST or None, currency=currency)
    if request.method == "POST" and form.is_valid():
        try:
            refund = refund_create(
                sub_order_id=sub_order.pk,
                amount_minor=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                actor=_actor(request),
            )
        except ApplicationError as error:
            field = {"amount_minor": "amount"}.get(error.field or "", error.field)
            form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"Refund of {money(refund.amount_minor, currency)} requested; "
                "it is paid back to the buyer shortly.",
            )
            return redirect("payments:seller_order_refund", sub_order_id=sub_order.pk)
    context = {
        "sub_order": sub_order,
        "form": form,
        "refundable_minor": refundable_minor(sub_order),
        "refunds": sub_order.refunds.order_by("-created_at"),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "seller/order_refund.html", context, status=status)
