"""The release side's page: the buyer confirms receipt (POST from the order page). Thin: the
service decides; anything that is not the viewer's is a 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFound
from payments.orders.models import SubOrder
from settlement.release.services import sub_order_confirm


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
