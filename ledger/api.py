"""The ledger's public endpoints (ledger/published.py): no login needed, only public data.

GET /.well-known/clearhouse-keys.json
GET /api/v1/ledger/tree-heads/<size>
GET /api/v1/ledger/consistency?from=A&to=B
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationError
from core.integers import text_integer
from ledger import api_docs
from ledger.published import (
    MAX_TREE_SIZE,
    consistency_bundle,
    keys_document,
    seal_of_size,
    tree_head_json,
)

# Public, and a new seal at most every beat period: caches may keep it a little while.
PUBLIC_CACHE = "public, max-age=60"


def _public(response):
    response["Cache-Control"] = PUBLIC_CACHE
    # Verifiers running in a browser may fetch it from any origin (no cookies are involved).
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def published_keys(request: HttpRequest) -> JsonResponse:
    """/.well-known/clearhouse-keys.json"""
    return _public(JsonResponse(keys_document(), json_dumps_params={"indent": 2}))


class _PublicApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]


class TreeHeadApi(_PublicApi):
    @extend_schema(
        operation_id="ledger_tree_head",
        responses={200: api_docs.TREE_HEAD_SCHEMA},
        examples=[
            OpenApiExample("Seal of size 9", value=api_docs.TREE_HEAD_EXAMPLE, response_only=True)
        ],
        description="The signed tree head of the ledger's seal of this tree size.",
    )
    def get(self, request: Request, size: int) -> Response:
        return _public(Response(tree_head_json(seal_of_size(size))))


def _size_param(request: Request, name: str) -> int:
    value = request.query_params.get(name)
    if value is None:
        raise ValidationError(f"{name} is required: a tree size.", field=name)
    return text_integer(
        value,
        field=name,
        minimum=1,
        maximum=MAX_TREE_SIZE,
        message=f"{name} must be a tree size (a positive integer).",
    )


class ConsistencyApi(_PublicApi):
    @extend_schema(
        operation_id="ledger_consistency",
        parameters=[
            OpenApiParameter("from", int, required=True, description="the older tree size"),
            OpenApiParameter("to", int, required=True, description="the newer tree size"),
        ],
        responses={200: api_docs.CONSISTENCY_SCHEMA},
        description=(
            "A consistency proof (RFC 6962) that the tree of size `to` extends the tree of size "
            "`from`, with both signed tree heads."
        ),
    )
    def get(self, request: Request) -> Response:
        from_size, to_size = _size_param(request, "from"), _size_param(request, "to")
        if from_size > to_size:
            raise ValidationError("from must not be larger than to.", field="from")
        return _public(Response(consistency_bundle(from_size, to_size)))
