"""The seller's dashboard pages (mounted under /seller/, namespace "dashboard"). Thin: forms check
the filters, selectors read, templates show.

Who may look: a signed-in seller, at its own money only. Anonymous visitors are sent to log in;
buyers and staff get a page that says it is for sellers (403; staff read any seller's batches and
payouts in the admin). Another seller's batch, payout or export is a 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.models import SellerProfile
from accounts.money_format import format_money, seller_locale
from core.errors import NotFound
from settlement.api import LINE_KINDS
from settlement.batches import BatchLine, batch_lines
from settlement.dashboard import selectors
from settlement.dashboard.charts import day_chart
from settlement.dashboard.exports import csv_lines
from settlement.dashboard.forms import (
    ExportForm,
    ListFilterForm,
    OrderFilterForm,
    PayoutFilterForm,
    filter_data,
)
from settlement.dashboard.orders import orders_page, with_money

LIVE_POLL_SECONDS = 5
LINES_PAGE = 50


def seller_page(view: Callable) -> Callable:
    """Signed in (else the login page) as a seller (else a 403 page that says so)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_seller:
            return render(request, "settlement/dashboard/sellers_only.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _profile(request: HttpRequest) -> SellerProfile | None:
    return SellerProfile.objects.filter(user_id=request.user.pk).first()


def _page_context(request: HttpRequest, profile: SellerProfile | None) -> dict:
    return {"profile": profile, "money_locale": seller_locale(profile)}


def _live_context(request: HttpRequest, profile: SellerProfile | None) -> dict:
    """The part of the overview that updates by itself: balances, what waits, the last payouts."""
    seller_id = request.user.pk
    return {
        "balances": selectors.seller_balances(seller_id=seller_id),
        "waiting": selectors.waiting_for(seller_id=seller_id, profile=profile),
        "recent_payouts": selectors.recent_payouts(user=request.user),
        "poll_seconds": LIVE_POLL_SECONDS,
        "live_url": reverse("dashboard:live"),
    }


def _with(request: HttpRequest, **changes: str) -> str:
    """This page's query string with some parameters changed (the next page keeps the filters)."""
    query: QueryDict = request.GET.copy()
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


def _without(request: HttpRequest, name: str) -> str:
    """This page's query string without one parameter (the first page, same filters)."""
    query: QueryDict = request.GET.copy()
    query.pop(name, None)
    return query.urlencode()


@seller_page
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    profile = _profile(request)
    context = _page_context(request, profile)
    days_text = request.GET.get("days", "")
    days = int(days_text) if days_text in {str(d) for d in selectors.CHART_PERIODS} else 30
    if days_text and str(days) != days_text:
        context["days_error"] = "Charts cover 30 or 90 days; showing 30."
    today = timezone.localdate()
    locale = context["money_locale"]
    series = selectors.daily_series(seller_id=request.user.pk, days=days, today=today)
    context.update(
        _live_context(request, profile),
        next_payout=selectors.next_payout(seller_id=request.user.pk, profile=profile, today=today),
        days=days,
        periods=selectors.CHART_PERIODS,
        charts=[
            (one, day_chart(one, money=lambda amount, ccy: format_money(amount, ccy, locale)))
            for one in series
        ],
        today=today,
    )
    return render(request, "settlement/dashboard/overview.html", context)


@seller_page
@require_safe
def live(request: HttpRequest) -> HttpResponse:
    """The overview's live part alone (htmx asks for it every few seconds)."""
    profile = _profile(request)
    context = {**_page_context(request, profile), **_live_context(request, profile)}
    return render(request, "settlement/dashboard/_live.html", context)


def _settlements_page(
    request: HttpRequest, *, export_form: ExportForm | None = None, status: int = 200
) -> HttpResponse:
    profile = _profile(request)
    context = _page_context(request, profile)
    # A refused export shows the list unfiltered (its dates are the export's, not a filter).
    query = None if export_form is not None else filter_data(request.GET)
    form = ListFilterForm(query, locale=context["money_locale"])
    page = selectors.batches_page(
        user=request.user, filters=form.filters(), after=request.GET.get("after")
    )
    today = timezone.localdate()
    context.update(
        form=form,
        page=page,
        next_query=_with(request, after=page.next_cursor) if page.next_cursor else "",
        export_form=export_form
        or ExportForm(initial={"date_from": today.replace(day=1), "date_to": today}),
        section="settlements",
    )
    return render(request, "settlement/dashboard/settlements.html", context, status=status)


@seller_page
@require_safe
def settlements(request: HttpRequest) -> HttpResponse:
    return _settlements_page(request)


@seller_page
@require_safe
def orders(request: HttpRequest) -> HttpResponse:
    """The seller's orders, filtered and searched, a keyset page at a time; each opens on
    payments' order page (accept, reject, ship, refund, the sealed document)."""
    profile = _profile(request)
    context = _page_context(request, profile)
    form = OrderFilterForm(filter_data(request.GET), locale=context["money_locale"])
    page = orders_page(
        seller_id=request.user.pk, filters=form.filters(), after=request.GET.get("after")
    )
    context.update(
        form=form,
        page=page,
        rows=with_money(page.items, seller=request.user),
        next_query=_with(request, after=page.next_cursor) if page.next_cursor else "",
        first_page="after" not in request.GET,
        newest_query=_without(request, "after"),
        section="orders",
    )
    return render(request, "settlement/dashboard/orders.html", context)


@seller_page
@require_safe
def payouts(request: HttpRequest) -> HttpResponse:
    profile = _profile(request)
    context = _page_context(request, profile)
    form = PayoutFilterForm(filter_data(request.GET), locale=context["money_locale"])
    page = selectors.payouts_page(
        user=request.user, filters=form.filters(), after=request.GET.get("after")
    )
    context.update(
        form=form,
        page=page,
        next_query=_with(request, after=page.next_cursor) if page.next_cursor else "",
        section="payouts",
    )
    return render(request, "settlement/dashboard/payouts.html", context)


def _batch_or_404(request: HttpRequest, batch_id: uuid.UUID):
    try:
        return selectors.batch_for(user=request.user, batch_id=batch_id)
    except NotFound:
        raise Http404("No such settlement.") from None


@seller_page
@require_safe
def batch_detail(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    profile = _profile(request)
    context = _page_context(request, profile)
    after_text = request.GET.get("after", "")
    after = int(after_text) if after_text.isdigit() and len(after_text) <= 18 else -1
    lines = batch_lines(batch, after_index=after, limit=LINES_PAGE + 1)
    more = len(lines) > LINES_PAGE
    lines = lines[:LINES_PAGE]
    context.update(
        batch=batch,
        payouts=selectors.batch_payouts(batch),
        lines=_line_rows(batch, lines, context["money_locale"]),
        first_page=after < 0,
        next_query=_with(request, after=str(lines[-1].log_index)) if more else "",
        section="settlements",
    )
    return render(request, "settlement/dashboard/batch_detail.html", context)


def _line_rows(batch, lines: list[BatchLine], locale: str) -> list[dict]:
    """A page of lines ready to print: a batch page shows up to LINES_PAGE of them, so each row's
    text is made here in plain Python rather than by the template engine, filter by filter."""
    rows = []
    for line in lines:
        when = timezone.localtime(line.created_at)
        sub_order = line.metadata.get("sub_order")
        if not (isinstance(sub_order, int) and sub_order > 0):
            sub_order = None
        rows.append(
            {
                "log_index": line.log_index,
                "when": f"{when.day} {when:%b %Y, %H:%M}",
                "kind": str(LINE_KINDS.get(line.reason, line.reason))
                .replace("_", " ")
                .capitalize(),
                "sub_order": sub_order,
                "order_url": sub_order and reverse("payments:seller_order", args=[sub_order]),
                "reference": line.reference,
                "amount": format_money(line.amount_minor, batch.currency, locale),
                "negative": line.amount_minor < 0,
            }
        )
    return rows


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@seller_page
@require_safe
def batch_csv(request: HttpRequest, batch_id: uuid.UUID) -> StreamingHttpResponse:
    batch = _batch_or_404(request, batch_id)
    return _csv_response(
        csv_lines([batch]), f"settlement-{batch.period_end:%Y-%m-%d}-{batch.currency}.csv"
    )


@seller_page
@require_safe
def export_csv(request: HttpRequest) -> HttpResponse:
    """Every line of the seller's batches made for days in a range (at most a year), as CSV; a
    bad range is shown on the settlements page beside its field (400), nothing downloaded."""
    form = ExportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "The export was not made: see the export form below.")
        return _settlements_page(request, export_form=form, status=400)
    data = form.cleaned_data
    batches = selectors.batches_in_range(
        user=request.user,
        date_from=data["date_from"],
        date_to=data["date_to"],
        currency=data["currency"] or None,
    )
    suffix = f"-{data['currency']}" if data["currency"] else ""
    return _csv_response(
        csv_lines(batches),
        f"settlements-{data['date_from']:%Y-%m-%d}-to-{data['date_to']:%Y-%m-%d}{suffix}.csv",
    )


@seller_page
@require_safe
def payout_detail(request: HttpRequest, payout_id: uuid.UUID) -> HttpResponse:
    try:
        payout = selectors.payout_for(user=request.user, payout_id=payout_id)
    except NotFound:
        raise Http404("No such payout.") from None
    profile = _profile(request)
    context = _page_context(request, profile)
    context.update(
        payout=payout,
        batch=payout.batch,
        history=selectors.payout_history(payout),
        section="payouts",
    )
    return render(request, "settlement/dashboard/payout_detail.html", context)


@seller_page
@require_safe
def developers(request: HttpRequest) -> HttpResponse:
    """The developer pages in one place: API keys, signing and encryption keys, webhooks."""
    return render(request, "settlement/dashboard/developers.html", {"section": "developers"})
