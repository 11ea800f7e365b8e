"""Seller dashboard: webhook endpoints (list, create, detail with deliveries, resend, roll secret,
disable/enable, delete). Sellers see only their own (404 otherwise); every change is a POST with
CSRF. The secret is shown once, on the page that follows creation or rolling."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from payments.catalog.views import seller_required
from payments.webhooks.deliveries import (
    deliveries_of,
    webhook_delivery_get,
    webhook_delivery_resend,
)
from payments.webhooks.endpoints import (
    SUBSCRIBABLE_EVENT_TYPES,
    endpoints_visible_to,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_get,
    webhook_endpoint_roll_secret,
    webhook_endpoint_set_active,
)
from payments.webhooks.models import WebhookEndpoint


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        help_text="Where Clearhouse POSTs events, e.g. https://example.com/webhooks/clearhouse",
        widget=forms.URLInput(attrs={"placeholder": "https://", "spellcheck": "false"}),
    )
    description = forms.CharField(label="Description (optional)", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=[(name, name) for name in SUBSCRIBABLE_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to receive every event.",
    )


def _endpoint_or_404(request: HttpRequest, endpoint_id) -> WebhookEndpoint:
    try:
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=endpoint_id)
    except NotFound:
        raise Http404("No such webhook endpoint.") from None
    if endpoint.seller_id != request.user.pk:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _secret_page(request: HttpRequest, endpoint: WebhookEndpoint, secret: str, *, rolled: bool):
    response = render(
        request,
        "seller/webhooks_secret.html",
        {"endpoint": endpoint, "secret": secret, "rolled": rolled},
    )
    # A page showing a secret must not be kept by browsers or proxies.
    response["Cache-Control"] = "no-store, max-age=0"
    response["Pragma"] = "no-cache"
    return response


@seller_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    endpoints = endpoints_visible_to(request.user).filter(seller=request.user)
    page = Paginator(endpoints.order_by("-created_at", "-pk"), 50).get_page(request.GET.get("page"))
    return render(request, "seller/webhooks.html", {"page": page})


@seller_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("secret")
def webhook_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "seller/webhooks_form.html", {"form": EndpointForm()})
    form = EndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            endpoint, secret = webhook_endpoint_create(
                seller=request.user,
                url=data["url"],
                description=data["description"],
                event_types=data["event_types"],
            )
        except ApplicationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            return _secret_page(request, endpoint, secret, rolled=False)
    return render(request, "seller/webhooks_form.html", {"form": form}, status=400)


@seller_required
@never_cache
def webhook_detail(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    deliveries = deliveries_of(endpoint).order_by("-created_at", "-pk")
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "page": page, "now": timezone.now()}
    return render(request, "seller/webhooks_detail.html", context)


@seller_required
@require_POST
@sensitive_variables("secret")
def webhook_roll(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    secret = webhook_endpoint_roll_secret(
        endpoint=endpoint, expire_old_now=request.POST.get("expire_old_now") == "1"
    )
    endpoint.refresh_from_db()
    return _secret_page(request, endpoint, secret, rolled=True)


@seller_required
@require_POST
def webhook_toggle(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    active = request.POST.get("active") == "1"
    webhook_endpoint_set_active(endpoint=endpoint, active=active)
    if active:
        messages.success(request, "The endpoint is enabled: new events are sent to it.")
    else:
        messages.success(request, "The endpoint is disabled: nothing is sent to it.")
    return redirect("payments:seller_webhook", endpoint.pk)


@seller_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    if request.method == "POST":
        webhook_endpoint_delete(endpoint=endpoint)
        messages.success(request, f"The endpoint {endpoint.url} is deleted.")
        return redirect("payments:seller_webhooks")
    return render(request, "seller/webhooks_delete.html", {"endpoint": endpoint})


@seller_required
@require_POST
def webhook_resend(request: HttpRequest, endpoint_id, delivery_id: str) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    try:
        delivery = webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
    except NotFound:
        raise Http404("No such delivery.") from None
    try:
        webhook_delivery_resend(delivery=delivery, actor=f"seller:{request.user.pk}")
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Message {delivery.pk} will be sent again shortly.")
    return redirect("payments:seller_webhook", endpoint.pk)
