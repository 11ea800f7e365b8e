"""Confirm receipt over the API (the buyer): escrow is released to the seller less the fee.

    POST /api/v1/orders/<order_id>/sub-orders/<id>/confirm    buyer            -> the sub-order

Anything that is not the caller's answers 404; the POST is made idempotent by the Idempotency-Key
middleware, and confirming again changes nothing. The sub-order's JSON is the one the other order
actions answer with (payments.fulfilment.buyer_api).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import StrictJSONParser
from payments.fulfilment import api_docs
from payments.fulfilment.buyer_api import actor_of, sub_order_json, visible_sub_order
from settlement.release.services import sub_order_confirm


class SubOrderConfirmApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="orders_sub_orders_confirm",
        request=None,
        responses=api_docs.SubOrderSerializer,
        description="The buyer confirms receipt of one seller's part: its captured amount, less "
        "refunds, is released from escrow to the seller (less the platform's fee). No body; "
        "confirming again changes nothing.",
        tags=["orders"],
        examples=api_docs.SUB_ORDER_EXAMPLES,
    )
    def post(self, request: Request, order_id: Any, sub_order_id: int) -> Response:
        visible_sub_order(
            user=request.user, order_id=order_id, sub_order_id=sub_order_id, role="buyer"
        )
        sub_order = sub_order_confirm(
            sub_order_id=sub_order_id, buyer=request.user, actor=actor_of(request.user)
        )
        return Response(sub_order_json(sub_order))
