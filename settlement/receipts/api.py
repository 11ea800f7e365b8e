"""The receipt API, under /api/v1/: the buyer and the seller their own, staff any.

    GET orders/<order id>/receipt[?sub_order=<id>][&download=1]

The answer is the receipt file (docs/receipts.md), which tools/verify_receipt.py checks offline.
An order with several sellers has one receipt per seller: name it with ?sub_order= (a seller
always gets its own part). Another's order is a 404. download=1 asks the browser to save it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationError
from settlement.receipts.api_docs import RECEIPT_FILE_SCHEMA
from settlement.receipts.services import (
    parse_sub_order_param,
    receipt_file,
    receipt_issue,
    visible_sub_order_id,
)


def download_name(document: dict) -> str:
    receipt = document["receipt"]
    return f"receipt-{receipt['order']['number']}-{receipt['sub_order']['id']}.json"


class OrderReceiptApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="orders_receipt",
        parameters=[
            OpenApiParameter(
                "sub_order",
                {"type": "integer", "minimum": 1},
                description="which seller's part, if several",
            ),
            OpenApiParameter("download", int, enum=[0, 1], description="1: sent as an attachment"),
        ],
        responses={200: RECEIPT_FILE_SCHEMA},
        tags=["orders"],
        description=(
            "The order's signed receipt (one per seller), with its Merkle inclusion proof and "
            "signed tree head once a ledger seal covers it. Verify it offline with "
            "tools/verify_receipt.py and /.well-known/clearhouse-keys.json."
        ),
    )
    def get(self, request: Request, order_id: Any) -> Response:
        download = request.query_params.get("download")
        if download not in (None, "0", "1"):
            raise ValidationError("download must be 0 or 1.", field="download")
        sub_order_id = visible_sub_order_id(
            request.user, order_id, parse_sub_order_param(request.query_params.get("sub_order"))
        )
        document = receipt_file(receipt_issue(sub_order_id=sub_order_id))
        response = Response(document)
        if download == "1":
            response["Content-Disposition"] = f'attachment; filename="{download_name(document)}"'
        return response
