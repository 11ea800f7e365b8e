"""Payment pages (server-rendered, usable without JavaScript) and the notification endpoint.

    /pay/3ds/<id>/              the sandbox issuer's 3-D Secure challenge (pass, fail, cancel)
    /pay/wallet/<id>/           the wallet step: QR code on a desktop, "Open wallet app" on a phone
    /pay/wallet/<id>/approve/   the sandbox wallet app itself: approve or cancel the payment
    /pay/bank/<id>/             bank transfer instructions (account, reference, amount, deadline)
    /pay/notify/<provider>/     asynchronous notifications from wallets (and the bank's feed)

A page is shown to the order's buyer, to staff, or to whoever holds the link's token (guests have
no login and a phone scanning the QR code has no session). Anyone else gets a 404.
"""

from __future__ import annotations

import logging
import re

import segno
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from core.money import Money
from payments.flows.models import Payment, PaymentMethod, PaymentStatus
from payments.flows.notifications import (
    NOTIFYING_PROVIDERS,
    notification_receive,
    notification_record_rejected,
)
from payments.flows.pages import (
    bank_received_minor,
    bank_url,
    page_token,
    page_token_valid,
    three_ds_url,
    wallet_approve_url,
    wallet_url,
)
from payments.flows.provider_events import payment_complete_challenge
from payments.flows.selectors import is_platform_staff
from payments.providers import sandbox_wallet
from payments.providers.bank_transfer import account_details
from payments.providers.base import ProviderError
from payments.providers.rf_reference import grouped
from payments.vault.cards import BRAND_LABELS

logger = logging.getLogger(__name__)
S = PaymentStatus
_MOBILE = re.compile(r"Mobi|Android|iPhone|iPad|iPod|HarmonyOS|MicroMessenger|AlipayClient", re.I)
WALLET_LABELS = {"alipay": "Alipay (sandbox)", "wechat": "WeChat Pay (sandbox)"}


def _payment_for_page(request: HttpRequest, payment_id, method: str) -> Payment:
    payment = Payment.objects.select_related("order").filter(pk=payment_id, method=method).first()
    if payment is None:
        raise Http404("No such payment.")
    token = request.GET.get("t") or request.POST.get("t") or ""
    if page_token_valid(payment.id, token):
        return payment
    user = request.user
    if user.is_authenticated and (payment.order.buyer_id == user.pk or is_platform_staff(user)):
        return payment
    raise Http404("No such payment.")


def _money(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format()


def _common_context(payment: Payment) -> dict:
    return_url = payment.details.get("return_url") or ""
    return {
        "payment": payment,
        "token": page_token(payment.id),
        "amount": _money(payment.amount_minor, payment.currency),
        "order_number": payment.order.number,
        "return_url": return_url or f"/orders/{payment.order_id}/",
        "is_final": payment.status not in {S.CREATED, S.REQUIRES_ACTION, S.AWAITING_TRANSFER},
        "succeeded": payment.status in {S.AUTHORIZED, S.CAPTURED},
    }


# --- 3-D Secure --------------------------------------------------------------------------------
CHALLENGE_ACTIONS = {"pass": "pass", "fail": "fail", "cancel": "abandon"}


@require_http_methods(["GET", "POST"])
def three_ds_challenge(request: HttpRequest, payment_id) -> HttpResponse:
    payment = _payment_for_page(request, payment_id, PaymentMethod.CARD)
    error = ""
    if request.method == "POST":
        choice = request.POST.get("action", "")
        if choice not in CHALLENGE_ACTIONS:
            error = "Choose one of the buttons below."
        else:
            try:
                payment_complete_challenge(
                    payment_id=payment.id,
                    outcome=CHALLENGE_ACTIONS[choice],
                    actor=f"buyer:{request.user.pk}"
                    if request.user.is_authenticated
                    else "buyer:guest",
                )
            except (ApplicationError, ProviderError) as exc:
                logger.warning("3-D Secure for payment %s: %s", payment.id, exc)
                error = "Your bank could not be reached. Please try again."
            else:
                return redirect(three_ds_url(payment))  # post/redirect/get
    elif (
        payment.status == S.REQUIRES_ACTION
        and payment.expires_at is not None
        and payment.expires_at <= timezone.now()
    ):
        # Left too long: the challenge has lapsed (the beat task would do the same).
        payment_complete_challenge(payment_id=payment.id, outcome="abandon", actor="system")
        payment.refresh_from_db()
    payment.refresh_from_db()
    card = payment.details.get("card", {})
    context = {
        **_common_context(payment),
        "card_label": f"{BRAND_LABELS.get(card.get('brand', ''), 'Card')} ending in {card.get('last4', '????')}",
        "error": error,
    }
    return render(
        request, "payments/three_ds_challenge.html", context, status=400 if error else 200
    )


# --- wallet -------------------------------------------------------------------------------------
def _qr_svg(text: str) -> str:
    # Drawn on the server: no script, no image service, no CDN.
    return segno.make(text, error="m").svg_inline(scale=5, title="QR code to pay in the wallet app")


@require_http_methods(["GET"])
def wallet_page(request: HttpRequest, payment_id) -> HttpResponse:
    payment = _payment_for_page(request, payment_id, PaymentMethod.WALLET)
    approve_link = request.build_absolute_uri(wallet_approve_url(payment))
    is_mobile = bool(_MOBILE.search(request.headers.get("User-Agent", "")))
    context = {
        **_common_context(payment),
        "wallet_label": WALLET_LABELS.get(payment.provider, payment.provider),
        "approve_url": wallet_approve_url(payment),
        "qr_svg": "" if is_mobile else mark_safe(_qr_svg(approve_link)),  # noqa: S308 - segno's own SVG
        "is_mobile": is_mobile,
        "self_url": wallet_url(payment),
    }
    return render(request, "payments/wallet_sandbox.html", context)


@require_http_methods(["GET", "POST"])
def wallet_approve(request: HttpRequest, payment_id) -> HttpResponse:
    """The sandbox wallet app: this page plays the wallet, not the platform."""
    payment = _payment_for_page(request, payment_id, PaymentMethod.WALLET)
    wallet = sandbox_wallet.wallets[payment.provider]
    trade = wallet.trade_for(out_trade_no=str(payment.id))
    if trade is None:
        raise Http404("No such trade.")
    error, decided = "", ""
    if request.method == "POST":
        choice = request.POST.get("action", "")
        if choice not in {"approve", "cancel"}:
            error = "Choose Approve or Cancel."
        else:
            notice = wallet.buyer_decide(trade_no=trade.trade_no, approve=choice == "approve")
            decided = choice if notice is not None else "already"
        trade.refresh_from_db()
    context = {
        **_common_context(payment),
        "wallet_label": WALLET_LABELS.get(payment.provider, payment.provider),
        "trade": trade,
        "waiting": trade.status == sandbox_wallet.WAIT_BUYER_PAY,
        "decided": decided,
        "error": error,
        "wallet_page_url": wallet_url(payment),
    }
    return render(request, "payments/wallet_approve.html", context, status=400 if error else 200)


# --- bank transfer ------------------------------------------------------------------------------
@require_http_methods(["GET"])
def bank_instructions(request: HttpRequest, payment_id) -> HttpResponse:
    payment = _payment_for_page(request, payment_id, PaymentMethod.BANK_TRANSFER)
    received = bank_received_minor(payment)
    remaining = max(payment.amount_minor - received, 0)
    context = {
        **_common_context(payment),
        **account_details(),
        # Grouped in fours for reading and typing, as banks print an IBAN (the RF rule's grouping).
        "iban_grouped": grouped(account_details()["iban"]),
        "reference": grouped(payment.bank_reference or ""),
        "reference_plain": payment.bank_reference,
        "received": _money(received, payment.currency) if received else "",
        "remaining": _money(remaining, payment.currency),
        "self_url": bank_url(payment),
    }
    return render(request, "payments/bank_transfer_instructions.html", context)


# --- notifications ------------------------------------------------------------------------------
@csrf_exempt  # signed by the sender; there is no browser session to protect
@require_POST
def notify(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in NOTIFYING_PROVIDERS:
        raise Http404("Unknown provider.")
    repeated = sorted(key for key, values in request.POST.lists() if len(values) > 1)
    params = {key: request.POST[key] for key in request.POST}
    if repeated:
        notification_record_rejected(
            provider,
            params,
            f"malformed: repeated parameters {', '.join(repeated)}",
            verified=False,
        )
        return HttpResponseBadRequest("fail", content_type="text/plain")
    receipt = notification_receive(provider_name=provider, params=params)
    if receipt.accepted:
        # Alipay stops retrying only when the body is exactly "success".
        return HttpResponse("success", content_type="text/plain")
    return HttpResponseBadRequest("fail", content_type="text/plain")
