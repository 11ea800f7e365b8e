"""API (payment side), under /api/v1/:

    GET    payments/                      payments visible to the caller (buyer, seller, staff)
    POST   payments/                      start paying an order the caller bought (payment_start)
    GET    payments/<id>/                 one payment (404 unless visible to the caller)
    POST   payments/<id>/capture/         staff only (seller acceptance captures in a later issue)
    POST   payments/<id>/void/            staff only
    GET    payment-methods/               the caller's vaulted cards (token, brand, last4, expiry)
    DELETE payment-methods/<token>/       erase one of them

Card data is accepted in the create call (card.number, card.exp_month, card.exp_year, card.cvc),
checked, vaulted and never echoed: responses carry only brand, last4 and expiry, and these views
render JSON only (DRF's browsable renderer would redisplay a rejected form's input).
"""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.throttling import SensitiveRateThrottle
from core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from payments.flows.capture import payment_capture, payment_void
from payments.flows.capture_plpgsql import load_for_capture
from payments.flows.input import PaymentCreateSerializer, parse_payment_create
from payments.flows.json_shape import payment_json
from payments.flows.models import Payment, PaymentMethod
from payments.flows.pages import bank_received_minor, next_action_for
from payments.flows.recovery import payment_recover_for_retry
from payments.flows.selectors import (
    is_platform_staff,
    payment_started_by_request,
    payments_visible_to,
    vaulted_cards_of,
)
from payments.flows.start import (
    PaymentStart,
    check_return_url,
    payment_start,
    payment_start_card_for_buyer,
)
from payments.orders.models import Order
from payments.vault.cards import CardInput, validate_card
from payments.vault.models import VaultedCard
from payments.vault.services import vault_delete_card

# What a payment's start answers when the order already has this request's payment.
RETRY_REFUSALS = frozenset({"order_not_payable", "payment_in_progress"})


def actor_for(user) -> str:
    return f"{getattr(user, 'role', 'user') or 'user'}:{user.pk}"


class CardSummarySerializer(serializers.Serializer):
    brand = serializers.CharField(read_only=True)
    last4 = serializers.CharField(read_only=True)
    exp_month = serializers.IntegerField(read_only=True)
    exp_year = serializers.IntegerField(read_only=True)


class BankTransferSummarySerializer(serializers.Serializer):
    reference = serializers.CharField(read_only=True, help_text="Quote it with the transfer.")
    received_minor = serializers.IntegerField(read_only=True)
    remaining_minor = serializers.IntegerField(read_only=True)


class NextActionSerializer(serializers.Serializer):
    """What the buyer must do next (only the buyer sees it): follow `url`. A bank transfer also
    names where to send the money."""

    type = serializers.ChoiceField(["redirect", "wallet", "bank_transfer"], read_only=True)
    url = serializers.CharField(read_only=True)
    wallet = serializers.CharField(required=False)
    reference = serializers.CharField(required=False)
    iban = serializers.CharField(required=False, allow_null=True)
    bic = serializers.CharField(required=False, allow_null=True)
    account_name = serializers.CharField(required=False, allow_null=True)
    amount_minor = serializers.IntegerField(required=False)
    currency = serializers.CharField(required=False)
    received_minor = serializers.IntegerField(required=False)
    remaining_minor = serializers.IntegerField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class CaptureSerializer(serializers.Serializer):
    sub_order_amounts = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        required=False,
        help_text="Sub-order id to amount_minor to capture; omitted: the whole payment.",
    )


class PaymentSerializer(serializers.ModelSerializer):
    order = serializers.UUIDField(source="order_id", read_only=True)
    order_number = serializers.CharField(source="order.number", read_only=True)
    card = serializers.SerializerMethodField()
    wallet = serializers.SerializerMethodField()
    bank_transfer = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "order",
            "order_number",
            "method",
            "provider",
            "status",
            "amount_minor",
            "currency",
            "captured_minor",
            "failure_code",
            "failure_message",
            "card",
            "wallet",
            "bank_transfer",
            "expires_at",
            "next_action",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CardSummarySerializer(allow_null=True))
    def get_card(self, payment: Payment) -> dict | None:
        card = payment.details.get("card")
        if not card:
            return None
        return {key: card[key] for key in ("brand", "last4", "exp_month", "exp_year")}

    def get_wallet(self, payment: Payment) -> str | None:
        return payment.provider if payment.method == PaymentMethod.WALLET else None

    @extend_schema_field(BankTransferSummarySerializer(allow_null=True))
    def get_bank_transfer(self, payment: Payment) -> dict | None:
        if payment.method != PaymentMethod.BANK_TRANSFER:
            return None
        received = bank_received_minor(payment)
        return {
            "reference": payment.bank_reference,
            "received_minor": received,
            "remaining_minor": max(payment.amount_minor - received, 0),
        }

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, payment: Payment) -> dict | None:
        # The links carry a capability for the buyer's pages: only the buyer gets them (a seller
        # who can see the payment must not be able to answer the buyer's 3-D Secure challenge).
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or payment.order.buyer_id != user.pk:
            return None
        return next_action_for(payment)


@extend_schema_view(
    list=extend_schema(description="The payments the caller may see, newest first."),
    retrieve=extend_schema(description="One payment the caller may see (else 404)."),
)
@method_decorator(sensitive_post_parameters("card", "number", "cvc"), name="dispatch")
class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PaymentSerializer
    renderer_classes = [JSONRenderer]

    def get_queryset(self):
        return payments_visible_to(self.request.user).order_by("-created_at")

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "create":
            # Card testing (trying stolen numbers) goes through here: the "sensitive" rate.
            throttles.append(SensitiveRateThrottle())
        return throttles

    @extend_schema(
        request=PaymentCreateSerializer,
        responses={201: PaymentSerializer},
        description="The buyer pays its order: by card (checked, vaulted, never echoed: the "
        "answer carries brand and last four only), wallet or bank transfer. `next_action` says "
        "what the buyer must do next (3-D Secure, wallet approval, the transfer's details). "
        "`capture_method`: `automatic` captures at once, `manual` holds until each seller "
        "accepts.",
    )
    def create(self, request, *args, **kwargs):
        # Hot path: PaymentCreateSerializer's outcome (same data, same errors) without building
        # one; the serializer stays the reference and the request schema (payment_input.py).
        data = parse_payment_create(request.data)
        request_key = getattr(request, "idempotency_scope", "")
        try:
            if data["method"] == PaymentMethod.CARD:
                payment = self._create_card_fast(request, data, request_key).payment
            else:
                order = self._buyers_order(request, data["order"])
                card = self._card_of(data)
                payment = payment_start(
                    order=order,
                    method=data["method"],
                    actor=actor_for(request.user),
                    card=card,
                    wallet=data.get("wallet"),
                    return_url=data.get("return_url", ""),
                    capture_method=data["capture_method"],
                    request_key=request_key,
                ).payment
        except Conflict as exc:
            payment = self._retried(request, data, request_key, exc)
        return Response(
            payment_json(payment, viewer_id=request.user.pk), status=status.HTTP_201_CREATED
        )

    def _retried(self, request, data, request_key: str, refusal: Conflict) -> Payment:
        """A retry (same Idempotency-Key) of a request that died after starting its payment finds
        the order paid or its payment in progress: it answers with that payment, brought up to
        date first if it is still `created` (payments.flows.recovery), never with the refusal,
        which would be kept as the key's answer though the payment went through."""
        if refusal.code not in RETRY_REFUSALS:
            raise refusal
        payment = payment_started_by_request(
            order_id=data["order"], buyer_id=request.user.pk, request_key=request_key
        )
        if payment is None:
            raise refusal
        return payment_recover_for_retry(
            payment, actor=actor_for(request.user), card=self._card_of(data)
        )

    def _buyers_order(self, request, order_id) -> Order:
        # Only the order's buyer may pay it; anyone else is told it does not exist.
        order = Order.objects.filter(pk=order_id, buyer=request.user).first()
        if order is None:
            raise NotFound("No such order.", code="order_not_found", field="order")
        return order

    def _card_of(self, data) -> CardInput | None:
        if data["method"] == PaymentMethod.CARD:
            card_data = data.get("card")
            if not card_data:
                raise serializers.ValidationError({"card": ["Enter your card details."]})
            return validate_card(**card_data)
        if data.get("card"):
            raise serializers.ValidationError(
                {"card": ["Card details are only for card payments."]}
            )
        return None

    def _create_card_fast(self, request, data, request_key: str) -> PaymentStart:
        """A card payment on the fast path: the order lookup happens in the start statement.
        Errors keep their order: a stranger's order is "not found" before the card is judged."""
        try:
            card = self._card_of(data)
            return_url = check_return_url(data.get("return_url", ""))
        except (serializers.ValidationError, ApplicationError):
            self._buyers_order(request, data["order"])
            raise
        return payment_start_card_for_buyer(
            order_id=data["order"],
            buyer_id=request.user.pk,
            actor=actor_for(request.user),
            card=card,
            return_url=return_url,
            capture_method=data["capture_method"],
            request_key=request_key,
        )

    def _staff_payment(self, request, pk) -> Payment:
        payment = self.get_queryset().filter(pk=pk).first()
        if payment is None:
            raise NotFound("No such payment.", code="payment_not_found")
        if not is_platform_staff(request.user):
            raise PermissionDenied("Only staff may do this for now.")
        return payment

    @extend_schema(
        request=CaptureSerializer,
        responses=PaymentSerializer,
        description="Staff only: capture an authorised payment (all of it, or per sub-order "
        "with `sub_order_amounts`). Sellers' acceptances capture their parts on their own.",
    )
    @action(detail=True, methods=["post"])
    def capture(self, request, pk=None):
        # Staff see every payment, so on the fast path the lookup is payment_capture's own read
        # (one statement; NotFound as _staff_payment). Anyone else: the usual 404 / 403.
        loaded = load_for_capture(pk) if is_platform_staff(request.user) else None
        payment = loaded.payment if loaded is not None else self._staff_payment(request, pk)
        amounts = request.data.get("sub_order_amounts") if isinstance(request.data, dict) else None
        if amounts is not None:
            if not isinstance(amounts, dict):
                raise serializers.ValidationError(
                    {"sub_order_amounts": ["An object of sub-order id to amount_minor."]}
                )
            try:
                amounts = {int(key): value for key, value in amounts.items()}
            except (TypeError, ValueError):
                raise serializers.ValidationError(
                    {"sub_order_amounts": ["Sub-order ids are numbers."]}
                ) from None
        payment = payment_capture(
            payment_id=payment.id,
            actor=actor_for(request.user),
            sub_order_amounts=amounts,
            loaded=loaded,
            request_key=getattr(request, "idempotency_scope", ""),
        )
        return Response(payment_json(payment, viewer_id=request.user.pk))

    @extend_schema(
        request=None,
        responses=PaymentSerializer,
        description="Staff only: release an authorised payment's hold; nothing is captured.",
    )
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        payment = self._staff_payment(request, pk)
        payment = payment_void(payment_id=payment.id, actor=actor_for(request.user))
        return Response(payment_json(payment, viewer_id=request.user.pk))


class VaultedCardSerializer(serializers.ModelSerializer):
    class Meta:
        model = VaultedCard
        fields = ["token", "brand", "last4", "exp_month", "exp_year", "created_at"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(description="The caller's vaulted cards (token, brand, last four)."),
    retrieve=extend_schema(description="One of the caller's vaulted cards."),
    destroy=extend_schema(description="Erase one of the caller's vaulted cards."),
)
class PaymentMethodViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = VaultedCardSerializer
    renderer_classes = [JSONRenderer]
    lookup_field = "token"
    lookup_value_regex = r"tok_[A-Za-z0-9_-]{1,44}"

    def get_queryset(self):
        return vaulted_cards_of(self.request.user).order_by("-created_at")

    def perform_destroy(self, instance: VaultedCard) -> None:
        vault_delete_card(token=instance.token, owner=self.request.user)
