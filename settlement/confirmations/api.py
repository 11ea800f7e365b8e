"""The two-sided confirmation over the API, under /api/v1/ (the party its own; staff all, and
the cases):

    GET  acknowledgements[?waiting=1][&state=pending]   newest first; waiting=1: what waits on
                                                         the caller (pending, window open)
    GET  acknowledgements/<id>                           one, with the statement to sign (base64
                                                         of its exact bytes, and as JSON)
    POST acknowledgements/<id>/answer                    the party's answer (below)
    POST acknowledgements/<id>/resolve                   staff: {"resolution": "..."} closes a case

Answers: {"answer": "received", "key_id": "<signing key id>", "signature": "<base64>"} (the
seller, a registered signing key); {"answer": "received"} (the buyer: the platform-held buyer key
signs) or with "public_key_pem" and "signature" (the buyer's own key); {"answer": "not_received"
| "wrong_amount", "note": "..."} (either: a case for staff). The signature is over the statement's
exact bytes. Anything not the caller's is a 404; a refusal changes nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import StrictJSONParser
from core.errors import ValidationError
from ledger.canonical_transfer import format_time as time_text
from settlement.confirmations import api_docs as docs
from settlement.confirmations import services
from settlement.confirmations.models import AckAnswer, Acknowledgement, AckSide, AckState

MAX_LIST = 100


def acknowledgement_json(ack: Acknowledgement, *, detail: bool = False) -> dict[str, Any]:
    sub_order = ack.sub_order
    data: dict[str, Any] = {
        "id": str(ack.pk),
        "side": ack.side,
        "state": ack.state,
        "payout_id": str(ack.payout_id),
        "order_id": str(sub_order.order_id) if sub_order else None,
        "order_number": sub_order.order.number if sub_order else None,
        "sub_order_id": ack.sub_order_id,
        "amount_minor": ack.payout.amount_minor if ack.side == AckSide.SELLER else None,
        "currency": ack.payout.currency,
        "due_at": time_text(ack.due_at),
        "answer": ack.answer or None,
        "answered_at": time_text(ack.answered_at),
        "statement_sha256": ack.statement_sha256,
        "signer": ack.signer or None,
        "key_fingerprint": ack.key_fingerprint or None,
        "case": {
            "note": ack.case_note,
            "resolved_at": time_text(ack.case_resolved_at),
            "resolution": ack.case_resolution or None,
        }
        if ack.state in (AckState.DISPUTED, AckState.RESOLVED)
        else None,
    }
    if detail:
        statement = bytes(ack.statement)
        data["statement"] = {
            "bytes_base64": base64.b64encode(statement).decode("ascii"),
            "json": json.loads(statement),
        }
    return data


def _text(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


class AcknowledgementListApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="acknowledgements_list",
        parameters=[
            OpenApiParameter(
                "waiting",
                int,
                enum=[0, 1],
                description="1: only what waits on you (pending, window open).",
            ),
            OpenApiParameter("state", str, enum=list(AckState.values), description="Only these."),
        ],
        request=None,
        responses=docs.AcknowledgementListSerializer,
        examples=docs.LIST_EXAMPLES,
        description="Acknowledgements asked of you once a payout is paid (staff: all), newest "
        f"first, at most {MAX_LIST}; without the statement (GET one for it).",
    )
    def get(self, request: Request) -> Response:
        waiting = request.query_params.get("waiting")
        if waiting not in (None, "0", "1"):
            raise ValidationError("waiting must be 0 or 1.", field="waiting")
        state = request.query_params.get("state")
        if state is not None and state not in AckState.values:
            raise ValidationError(f"state is one of {', '.join(AckState.values)}.", field="state")
        rows = (
            services.waiting_on(request.user)
            if waiting == "1"
            else services.acknowledgements_visible_to(request.user)
        )
        if state is not None:
            rows = rows.filter(state=state)
        rows = rows.order_by("-created_at", "-id")[:MAX_LIST]
        return Response({"results": [acknowledgement_json(ack) for ack in rows]})


class AcknowledgementDetailApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="acknowledgements_retrieve",
        request=None,
        responses=docs.AcknowledgementDetailSerializer,
        examples=docs.DETAIL_EXAMPLES,
        description="One acknowledgement, with the statement to sign (its exact bytes, base64, "
        "and as JSON). Another's is 404.",
    )
    def get(self, request: Request, ack_id: Any) -> Response:
        ack = services.acknowledgement_get(request.user, ack_id)
        return Response(acknowledgement_json(ack, detail=True))


class AcknowledgementAnswerApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="acknowledgements_answer",
        request=docs.AcknowledgementAnswerSerializer,
        responses=docs.AcknowledgementDetailSerializer,
        examples=docs.ANSWER_EXAMPLES,
        description=(
            "Answer an acknowledgement: received (signed over the statement's exact bytes: the "
            "seller with key_id and signature; a buyer with nothing more, and the platform-held "
            "key signs, or with public_key_pem and signature), or not_received / wrong_amount "
            "with a note (a case for staff). Answered once: again is 409 "
            "`already_acknowledged`, after the window 409 `acknowledgement_lapsed`."
        ),
    )
    def post(self, request: Request, ack_id: Any) -> Response:
        data = request.data
        answer = _text(data, "answer")
        ack = services.acknowledgement_get(request.user, ack_id)
        if answer in (AckAnswer.NOT_RECEIVED, AckAnswer.WRONG_AMOUNT):
            ack = services.acknowledgement_dispute(
                ack_id=ack.pk, user=request.user, answer=answer, note=_text(data, "note")
            )
        elif answer != AckAnswer.RECEIVED:
            raise ValidationError(
                'The answer is "received", "not_received" or "wrong_amount".', field="answer"
            )
        elif ack.side == AckSide.SELLER:
            ack = services.seller_acknowledge(
                ack_id=ack.pk,
                seller=request.user,
                key_id=_text(data, "key_id"),
                signature_b64=_text(data, "signature"),
                algorithm=_text(data, "algorithm"),
            )
        else:
            ack = services.buyer_acknowledge(
                ack_id=ack.pk,
                buyer=request.user,
                public_key_pem=_text(data, "public_key_pem"),
                signature_b64=_text(data, "signature"),
                algorithm=_text(data, "algorithm"),
            )
        ack = services.acknowledgement_get(request.user, ack.pk)
        return Response(acknowledgement_json(ack, detail=True))


class AcknowledgementResolveApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="acknowledgements_resolve",
        request=docs.AcknowledgementResolveSerializer,
        responses=docs.AcknowledgementDetailSerializer,
        examples=docs.RESOLVE_EXAMPLES,
        description="Staff: close the case a 'not received' or 'wrong amount' answer opened "
        "(anyone else: 404; no open case: 409 `not_disputed`).",
    )
    def post(self, request: Request, ack_id: Any) -> Response:
        ack = services.case_resolve(
            ack_id=ack_id, staff=request.user, resolution=_text(request.data, "resolution")
        )
        ack = services.acknowledgement_get(request.user, ack.pk)
        return Response(acknowledgement_json(ack, detail=True))
