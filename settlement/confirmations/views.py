"""The acknowledgement pages (the pull half of the two-sided confirmation):

    GET  /settlement/acknowledgements/             what waits on the user (seller: its paid
                                                   payouts; buyer: its paid-out orders), and
                                                   what was answered
    POST /settlement/acknowledgements/<id>/answer  "received" (the seller's password signs with
                                                   the dashboard key; the buyer's click signs
                                                   with the platform-held buyer key), or "not
                                                   received" / "wrong amount" with a note

The buyer's order page and the seller's payouts page show the same forms (settlement_tags.
acknowledgements_panel), posting here. A refusal shows the page again with the message next to
the field, and nothing changed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from core.errors import ApplicationError, NotFound
from settlement.confirmations import services
from settlement.confirmations.models import AckAnswer, Acknowledgement, AckSide

HISTORY = 50


class ReceivedForm(forms.Form):
    password = forms.CharField(
        label="Your password (signs the payout statement with your dashboard key)",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
    )


class ProblemForm(forms.Form):
    answer = forms.ChoiceField(
        label="What is wrong",
        choices=[
            (AckAnswer.NOT_RECEIVED, "Not received"),
            (AckAnswer.WRONG_AMOUNT, "Wrong amount"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Tell us more (optional)",
        max_length=services.MAX_NOTE_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def forms_for(ack: Acknowledgement, data: Any = None, action: str | None = None) -> dict:
    prefix = f"ack-{ack.pk}"
    return {
        "ack": ack,
        "received_form": ReceivedForm(data if action == "received" else None, prefix=prefix),
        "problem_form": ProblemForm(data if action == "problem" else None, prefix=prefix),
    }


def _page(request: HttpRequest, bound: dict | None = None, status: int = 200) -> HttpResponse:
    waiting = list(services.waiting_on(request.user).order_by("due_at", "id"))
    rows = []
    for ack in waiting:
        rows.append(bound if bound and bound["ack"].pk == ack.pk else forms_for(ack))
    if bound and all(row["ack"].pk != bound["ack"].pk for row in rows):
        rows.insert(0, bound)  # e.g. its window closed meanwhile: show why
    history = (
        services.acknowledgements_visible_to(request.user)
        .filter(party_id=request.user.pk)
        .exclude(pk__in=[row["ack"].pk for row in rows])
        .order_by("-created_at")[:HISTORY]
    )
    return render(
        request,
        "confirmations/acknowledgements.html",
        {"rows": rows, "history": history},
        status=status,
    )


@require_safe
@login_required
def acknowledgements_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _next_url(request: HttpRequest) -> str | None:
    target = request.POST.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@require_POST
@login_required
def acknowledgement_answer(request: HttpRequest, ack_id: Any) -> HttpResponse:
    try:
        ack = services.acknowledgement_get(request.user, ack_id)
    except NotFound:
        raise Http404("No such acknowledgement.") from None
    if ack.party_id != request.user.pk:
        raise Http404("No such acknowledgement.")
    action = request.POST.get("action")
    if action not in ("received", "problem"):
        raise Http404("No such action.")
    bound = forms_for(ack, request.POST, action)
    form = bound["received_form"] if action == "received" else bound["problem_form"]
    if form.is_valid():
        try:
            if action == "problem":
                services.acknowledgement_dispute(
                    ack_id=ack.pk,
                    user=request.user,
                    answer=form.cleaned_data["answer"],
                    note=form.cleaned_data["note"],
                )
                done = "Thank you: staff will look into it. The record stays open until then."
            elif ack.side == AckSide.SELLER:
                services.seller_acknowledge_with_password(
                    ack_id=ack.pk, seller=request.user, password=form.cleaned_data["password"]
                )
                done = "Payout acknowledged: your signature is recorded."
            else:
                services.buyer_acknowledge(ack_id=ack.pk, buyer=request.user)
                done = "Thank you: your acknowledgement is recorded."
        except ApplicationError as error:
            field = error.field if error.field in form.fields else None
            if field is None and "password" in form.fields:
                field = "password"
            form.add_error(field, error.message)
        else:
            messages.success(request, done)
            return redirect(_next_url(request) or "settlement:acknowledgements")
    return _page(request, bound=bound, status=400)
