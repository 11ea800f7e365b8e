"""Test-only API views (mounted by tests/api/urls.py through @pytest.mark.urls)."""

from __future__ import annotations

import threading
import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.api.mixins import SensitiveThrottleMixin
from core.api.pagination import CreatedCursorPagination
from core.errors import ApplicationError, Conflict, TryAgainLater
from core.models import IdempotencyKey


class InsufficientFunds(ApplicationError):
    """The balance does not cover this amount."""

    code = "insufficient_funds"
    http_status = 422


class LineSerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(min_value=1)


class OrderInputSerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(min_value=1)
    currency = serializers.CharField(max_length=3)
    lines = LineSerializer(many=True, required=False)

    def validate(self, attrs):
        if attrs.get("currency") == "XXX":
            raise serializers.ValidationError("XXX is not a currency for payments.", code="no_xxx")
        return attrs


class DenyAll(BasePermission):
    message = "Only the owner may do this."

    def has_permission(self, request, view) -> bool:
        return False


class ErrorsView(APIView):
    """POST/GET /api/v1/test/errors/<kind>: raises the kind of failure named."""

    permission_classes = [AllowAny]

    def get(self, request, kind: str):
        return self.post(request, kind)

    def post(self, request, kind: str):
        if kind == "validation":
            serializer = OrderInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            return Response(serializer.validated_data)
        if kind == "not_yet":
            raise TryAgainLater("The refund is still running.", code="refund_in_progress")
        if kind == "conflict":
            raise Conflict("The order is already paid.", field="order")
        if kind == "domain":
            raise InsufficientFunds(field="amount_minor", extra={"available_minor": 500})
        if kind == "http404":
            raise Http404("No Order matches the given query.")
        if kind == "django_permission":
            raise DjangoPermissionDenied
        if kind == "django_validation":
            raise DjangoValidationError({"email": ["Enter a valid email address."]}, code="invalid")
        if kind == "crash":
            raise RuntimeError("a bug")
        return Response({"kind": kind})


class PrivateView(APIView):
    """The default permission (IsAuthenticated)."""

    def get(self, request):
        return Response({"ok": True})


class ForbiddenView(APIView):
    permission_classes = [AllowAny, DenyAll]

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})


class PostOnlyView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"received": request.data})


class SensitiveView(SensitiveThrottleMixin, APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"ok": True})


class EffectControl:
    """Lets a test hold a request inside the view (concurrency) or make the next one fail."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_next = 0


effect_control = EffectControl()


class EffectView(APIView):
    """POST creates one user (the countable effect) and answers 201 with it; DELETE answers 200."""

    permission_classes = [AllowAny]

    def post(self, request):
        if effect_control.hold:
            effect_control.entered.set()
            effect_control.release.wait(timeout=30)
        if effect_control.fail_next:
            effect_control.fail_next -= 1
            return Response({"error": "temporary"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if request.data.get("invalid"):
            raise serializers.ValidationError({"invalid": ["Not allowed."]})
        user = User.objects.create_user(email=f"{uuid.uuid4().hex}@effect.test")
        return Response(
            {"user_id": user.pk, "note": request.data.get("note")},
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/test/effects/{user.pk}"},
        )

    def patch(self, request):
        return Response({"patched": request.data})

    def delete(self, request):
        deleted, _ = User.objects.filter(email__endswith="@effect.test").delete()
        return Response({"deleted": deleted})


class IdempotencyKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = IdempotencyKey
        fields = ["id", "key", "created_at"]


class KeyListView(generics.ListAPIView):
    """Any model with created_at will do to exercise the cursor pagination."""

    permission_classes = [AllowAny]
    serializer_class = IdempotencyKeySerializer
    pagination_class = CreatedCursorPagination
    queryset = IdempotencyKey.objects.all()
