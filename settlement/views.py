"""Settlement's seller pages: the seller's payouts, newest first, with their outcome (the API
has the same at /api/v1/payouts/)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from payments.catalog.views import seller_required
from settlement.selectors import payouts_visible_to


@seller_required
def seller_payouts(request: HttpRequest) -> HttpResponse:
    payouts = payouts_visible_to(request.user).filter(seller_id=request.user.pk)
    page = Paginator(payouts.order_by("-created_at"), 25).get_page(request.GET.get("page"))
    return render(request, "settlement/payouts.html", {"page": page})
