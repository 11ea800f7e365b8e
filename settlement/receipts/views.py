"""The printable receipt page (/settlement/orders/<order id>/receipt): the same receipt as the
API's, laid out for people and for print, with links to the JSON file and the published keys;
and its PDF (/settlement/orders/<order id>/receipt.pdf)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from core.errors import NotFound, ValidationError
from core.money import Money
from settlement.receipts.api import download_name
from settlement.receipts.models import Receipt
from settlement.receipts.pdf import receipt_pdf
from settlement.receipts.services import (
    ReceiptUnavailable,
    SubOrderRequired,
    parse_sub_order_param,
    receipt_file,
    receipt_issue,
    visible_sub_order_id,
    visible_sub_orders,
)


def _money(amount_minor: int | None, currency: str) -> str:
    return "—" if amount_minor is None else Money(amount_minor, currency).format()


def _page_context(document: dict, order_id: Any) -> dict:
    receipt = document["receipt"]
    currency = receipt["currency"]
    amounts = {key: _money(value, currency) for key, value in receipt["amounts"].items()}
    items = [
        {
            **item,
            "unit_price": _money(item["unit_price_minor"], currency),
            "amount": _money(item["amount_minor"], currency),
        }
        for item in receipt["items"]
    ]
    refunds = [{**r, "amount": _money(r["amount_minor"], currency)} for r in receipt["refunds"]]
    payouts = [
        {**p, "amount": _money(p["amount_minor"], p["currency"])}
        for p in receipt["confirmation_record"]["payouts"]
    ]
    query = f"?sub_order={receipt['sub_order']['id']}"
    return {
        "document": document,
        "receipt": receipt,
        "amounts": amounts,
        "items": items,
        "refunds": refunds,
        "payouts": payouts,
        "record": receipt["confirmation_record"],
        "inclusion": document["inclusion"],
        "json_url": reverse("api-order-receipt", args=[order_id]) + query + "&download=1",
        "pdf_url": reverse("settlement:order-receipt-pdf", args=[order_id]) + query,
        "keys_url": reverse("clearhouse-keys"),
    }


def _receipt_or_page(request: HttpRequest, order_id: Any) -> Receipt | HttpResponse:
    """The receipt of the order's part `request.user` may see, or the page to show instead: a
    choice of sellers' parts, why there is no receipt yet (409); another's order is a 404."""
    try:
        sub_order_id = visible_sub_order_id(
            request.user, order_id, parse_sub_order_param(request.GET.get("sub_order"))
        )
    except SubOrderRequired:
        # Several sellers: one receipt each, to choose from.
        choices = visible_sub_orders(request.user, order_id)
        return render(
            request, "receipts/choose.html", {"order_id": order_id, "sub_orders": choices}
        )
    except (NotFound, ValidationError):
        raise Http404("No such order.") from None
    try:
        return receipt_issue(sub_order_id=sub_order_id)
    except ReceiptUnavailable as exc:
        return render(request, "receipts/unavailable.html", {"message": exc.message}, status=409)


@require_safe
@login_required
def receipt_page(request: HttpRequest, order_id: Any) -> HttpResponse:
    receipt = _receipt_or_page(request, order_id)
    if isinstance(receipt, HttpResponse):
        return receipt
    return render(request, "receipts/receipt.html", _page_context(receipt_file(receipt), order_id))


@require_safe
@login_required
def receipt_pdf_download(request: HttpRequest, order_id: Any) -> HttpResponse:
    """The same receipt as a PDF download (settlement.receipts.pdf); another's order is a 404."""
    receipt = _receipt_or_page(request, order_id)
    if isinstance(receipt, HttpResponse):
        return receipt
    document = receipt_file(receipt)
    response = HttpResponse(receipt_pdf(document), content_type="application/pdf")
    name = download_name(document).removesuffix(".json") + ".pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
