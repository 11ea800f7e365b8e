"""Account pages. Thin: forms collect, services decide, templates show."""

from __future__ import annotations

import base64
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import banking, reference, selectors, services
from accounts.forms import (
    ApiKeyCreateForm,
    KeyGenerateForm,
    KeyUploadForm,
    SellerProfileForm,
    SignUpForm,
    add_service_error,
)
from accounts.models import Role, SellerKey
from core.errors import ApplicationError


def seller_required(view):
    """Logged in as a seller with a profile; others get a page that says so (403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.role != Role.SELLER:
            return render(request, "accounts/sellers_only.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages showing a secret once must not be kept by browsers or proxies."""
    response["Cache-Control"] = "no-store, max-age=0"
    response["Pragma"] = "no-cache"
    return response


# --- Sign-up and overview ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    initial = {"role": "seller"} if request.GET.get("role") == "seller" else {}
    form = SignUpForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        role = form.cleaned_data["role"]
        try:
            user = services.user_sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                role=role,
                display_name=form.cleaned_data["display_name"],
                seller_profile=form.seller_profile_data() if role == Role.SELLER else None,
            )
        except DjangoValidationError as exc:
            add_service_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if user.role == Role.SELLER:
                messages.success(
                    request,
                    "Welcome! Add the bank account your payouts go to, then register your keys.",
                )
                return redirect("accounts:seller_profile")
            messages.success(request, "Welcome to Clearhouse!")
            return redirect("home")
    status = 400 if form.errors else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    context = {"profile": selectors.seller_profile_of(request.user)}
    return render(request, "accounts/overview.html", context)


# --- Seller profile ----------------------------------------------------------------------------


def _profile_initial(profile) -> dict:
    if profile is None:
        return {}
    initial = {
        name: getattr(profile, name)
        for name in SellerProfileForm.base_fields
        if name != "minimum_payout"
    }
    initial["minimum_payout"] = reference.format_minor(
        profile.minimum_payout_minor, profile.settlement_currency
    )
    return initial


@seller_required
@require_http_methods(["GET", "POST"])
def seller_profile(request: HttpRequest) -> HttpResponse:
    profile = selectors.seller_profile_of(request.user)
    form = SellerProfileForm(request.POST or None, initial=_profile_initial(profile))
    if request.method == "POST" and form.is_valid():
        try:
            services.seller_profile_save(
                seller=request.user, data=form.cleaned_data, require_bank_account=True
            )
        except DjangoValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Your seller profile is saved.")
            return redirect("accounts:seller_profile")
    country = profile.country if profile else ""
    context = {
        "form": form,
        "profile": profile,
        "uses_iban": banking.uses_iban(country) if country else None,
        "domestic_rule": banking.domestic_rule(country),
    }
    return render(
        request, "accounts/seller_profile.html", context, status=400 if form.errors else 200
    )


# --- Seller keys -------------------------------------------------------------------------------


def _keys_page(request, *, generate_form=None, upload_form=None, status=200) -> HttpResponse:
    keys = selectors.seller_keys_visible_to(request.user).filter(seller=request.user)
    context = {
        "keys": keys,
        "generate_form": generate_form or KeyGenerateForm(),
        "upload_form": upload_form or KeyUploadForm(),
    }
    return render(request, "accounts/keys.html", context, status=status)


@seller_required
def seller_keys(request: HttpRequest) -> HttpResponse:
    return _keys_page(request)


@seller_required
@require_POST
def seller_key_generate(request: HttpRequest) -> HttpResponse:
    form = KeyGenerateForm(request.POST)
    if form.is_valid():
        try:
            key, private_pem = services.seller_key_generate(
                seller=request.user,
                purpose=form.cleaned_data["purpose"],
                algorithm=form.cleaned_data["algorithm"],
                label=form.cleaned_data["label"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            # Shown on this response only (no redirect, nothing kept): reloading asks to re-post,
            # which would make another key, never show this one again.
            context = {
                "key": key,
                "private_pem": private_pem,
                "private_pem_data_uri": "data:application/x-pem-file;base64,"
                + base64.b64encode(private_pem.encode("ascii")).decode("ascii"),
                "download_name": f"clearhouse-{key.purpose}-{key.id}.pem",
            }
            return _no_store(render(request, "accounts/key_created.html", context))
    return _keys_page(request, generate_form=form, status=400)


@seller_required
@require_http_methods(["GET", "POST"])
def seller_key_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _keys_page(request)
    form = KeyUploadForm(request.POST)
    if form.is_valid():
        try:
            key = services.seller_key_upload(
                seller=request.user,
                purpose=form.cleaned_data["purpose"],
                public_pem=form.cleaned_data["public_pem"],
                label=form.cleaned_data["label"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Your {key.purpose} key {key.id} is registered.")
            return redirect("accounts:seller_keys")
    return _keys_page(request, upload_form=form, status=400)


@seller_required
@require_http_methods(["GET", "POST"])
def seller_key_revoke(request: HttpRequest, key_id) -> HttpResponse:
    key = get_object_or_404(SellerKey.objects.filter(seller=request.user), pk=key_id)
    if request.method == "POST":
        was_active = key.is_active
        services.seller_key_revoke(key=key)
        if was_active:
            messages.success(request, f"Key {key.id} is revoked.")
        else:
            messages.info(request, f"Key {key.id} was already revoked.")
        return redirect("accounts:seller_keys")
    return render(request, "accounts/key_revoke_confirm.html", {"key": key})


# --- API keys ----------------------------------------------------------------------------------


def _api_keys_page(request, *, form=None, status=200) -> HttpResponse:
    keys = selectors.api_keys_visible_to(request.user).filter(owner=request.user)
    return render(
        request,
        "accounts/api_keys.html",
        {"api_keys": keys, "form": form or ApiKeyCreateForm()},
        status=status,
    )


@login_required
@never_cache
def api_keys(request: HttpRequest) -> HttpResponse:
    return _api_keys_page(request)


@login_required
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            api_key, full_key = services.api_key_create(
                owner=request.user, name=form.cleaned_data["name"]
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            context = {"api_key": api_key, "full_key": full_key}
            return _no_store(render(request, "accounts/api_key_created.html", context))
    return _api_keys_page(request, form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, key_id) -> HttpResponse:
    api_key = get_object_or_404(
        selectors.api_keys_visible_to(request.user).filter(owner=request.user), pk=key_id
    )
    if request.method == "POST":
        was_active = api_key.is_active
        services.api_key_revoke(api_key=api_key)
        if was_active:
            messages.success(request, f"API key {api_key.prefix}… is revoked.")
        else:
            messages.info(request, f"API key {api_key.prefix}… was already revoked.")
        return redirect("accounts:api_keys")
    return render(request, "accounts/api_key_revoke_confirm.html", {"api_key": api_key})
