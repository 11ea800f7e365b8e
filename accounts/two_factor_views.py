"""Staff enrol their authenticator: a QR code (and the secret, to type in), a first code to
confirm it, then ten backup codes shown once. The session is then verified for the admin."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from accounts import two_factor
from core.errors import ApplicationError


class TokenForm(forms.Form):
    token = forms.CharField(
        max_length=12, label="Code from the app", widget=forms.TextInput({"autocomplete": "off"})
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_staff:
        return render(request, "accounts/two_factor.html", {"not_staff": True}, status=403)
    if two_factor.has_second_factor(user):
        return render(request, "accounts/two_factor.html", {"enrolled": True})
    device = two_factor.enrolment_device(user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.confirm_enrolment(user, form.cleaned_data["token"])
        except ApplicationError as error:
            form.add_error("token", error.message)
        else:
            otp_login(request, device)
            return render(request, "accounts/two_factor.html", {"codes": codes})
    context = {
        "form": form,
        "qr_svg": two_factor.qr_svg(device),
        "secret": two_factor.secret_of(device),
    }
    return render(request, "accounts/two_factor.html", context)
