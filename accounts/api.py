"""API for API keys, seller keys and seller profiles (/api/v1/...). Thin over the services.

Each object is visible to its owner only (another owner's id is a 404); staff see all. Staff may
revoke any key (an incident response), but only its owner creates keys or edits a profile.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import reference, selectors, services
from accounts.models import ApiKey, KeyPurpose, SellerKey, SellerProfile, SettlementSchedule
from accounts.validation import PROFILE_FIELDS
from core.api.idempotency import WITHHOLD_ATTRIBUTE
from core.errors import ValidationError


def _as_input_error(exc: ValidationError) -> exceptions.ValidationError:
    """A service's ValidationError in the shape of input the serializer refused (with "details").
    Other service errors (NotASeller, Django ValidationError) go to the API error handler as is."""
    detail = {exc.field: [exc.message]} if exc.field else exc.message
    return exceptions.ValidationError(detail, code=exc.code)


# --- Serializers -------------------------------------------------------------------------------


class ApiKeySerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "owner", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The whole key. Shown this once only.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class SellerKeySerializer(serializers.ModelSerializer):
    seller = serializers.EmailField(source="seller.email", read_only=True)

    class Meta:
        model = SellerKey
        fields = [
            "id",
            "seller",
            "purpose",
            "algorithm",
            "size_bits",
            "fingerprint",
            "public_pem",
            "label",
            "origin",
            "created_at",
            "revoked_at",
        ]
        read_only_fields = fields


class SellerKeyUploadSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=KeyPurpose.choices)
    public_pem = serializers.CharField(max_length=20_000, trim_whitespace=True)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class SellerKeyGenerateSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=KeyPurpose.choices)
    algorithm = serializers.ChoiceField(
        choices=list(services.SIGNING_ALGORITHMS), default="ed25519", required=False
    )
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class SellerKeyGeneratedSerializer(SellerKeySerializer):
    private_pem = serializers.CharField(
        read_only=True, help_text="The private key. Returned this once only; never stored."
    )

    class Meta(SellerKeySerializer.Meta):
        fields = [*SellerKeySerializer.Meta.fields, "private_pem"]
        read_only_fields = fields


class AmountField(serializers.CharField):
    """A decimal amount as a string ("25.00"); floats are refused so no binary rounding sneaks in."""

    def to_internal_value(self, data):
        if isinstance(data, bool | float):
            raise serializers.ValidationError(
                'Send the amount as a string such as "25.00", not as a JSON number with decimals.'
            )
        return super().to_internal_value(data)


def _text_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, **kwargs)


class SellerProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    seller = serializers.EmailField(source="user.email", read_only=True)
    legal_name = _text_field(max_length=200)
    country = _text_field(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE")
    default_currency = _text_field(max_length=3, help_text="ISO 4217, e.g. EUR")
    settlement_currency = _text_field(max_length=3, help_text="ISO 4217, e.g. EUR")
    bank_account_holder = _text_field(max_length=200)
    iban = _text_field(max_length=50)
    bic = _text_field(max_length=20)
    account_number = _text_field(max_length=40)
    routing_number = _text_field(max_length=40)
    settlement_schedule = serializers.ChoiceField(
        choices=SettlementSchedule.choices, required=False
    )
    minimum_payout = AmountField(
        required=False,
        allow_blank=True,
        max_length=30,
        help_text='Decimal string in the settlement currency, e.g. "25.00".',
    )
    minimum_payout_minor = serializers.IntegerField(read_only=True)
    paid_in_sale_currency = serializers.BooleanField(
        required=False,
        help_text=(
            "Pay sales in other currencies in their own currency to the account on file (which "
            "must take them), instead of converting them into the settlement currency."
        ),
    )
    has_payout_account = serializers.BooleanField(read_only=True)
    fee_plan = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: SellerProfile) -> dict:
        data = super().to_representation(instance)
        data["minimum_payout"] = reference.format_minor(
            instance.minimum_payout_minor, instance.settlement_currency
        )
        return data


# --- Views -------------------------------------------------------------------------------------


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your API keys. The whole key is returned once, by create; only its prefix afterwards."""

    serializer_class = ApiKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiKey.objects.none()
        return selectors.api_keys_visible_to(self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            api_key, full_key = services.api_key_create(
                owner=request.user, name=payload.validated_data["name"]
            )
        except ValidationError as exc:
            raise _as_input_error(exc) from exc
        api_key.key = full_key
        response = Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        # The key is shown once: the idempotency store keeps that this ran, never the key.
        setattr(response, WITHHOLD_ATTRIBUTE, True)
        return response

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = services.api_key_revoke(api_key=self.get_object())
        return Response(ApiKeySerializer(api_key).data)


class SellerKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sellers' public keys: upload your own, or have a pair generated (private half returned
    once), and revoke. Signing: Ed25519 or RSA-PSS; encryption: RSA-OAEP."""

    serializer_class = SellerKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SellerKey.objects.none()
        keys = selectors.seller_keys_visible_to(self.request.user)
        purpose = self.request.query_params.get("purpose")
        if purpose in KeyPurpose.values:
            keys = keys.filter(purpose=purpose)
        return keys

    @extend_schema(request=SellerKeyUploadSerializer, responses={201: SellerKeySerializer})
    def create(self, request):
        payload = SellerKeyUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            key = services.seller_key_upload(seller=request.user, **payload.validated_data)
        except ValidationError as exc:
            raise _as_input_error(exc) from exc
        return Response(SellerKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SellerKeyGenerateSerializer, responses={201: SellerKeyGeneratedSerializer}
    )
    @action(detail=False, methods=["post"])
    def generate(self, request):
        payload = SellerKeyGenerateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            key, private_pem = services.seller_key_generate(
                seller=request.user, **payload.validated_data
            )
        except ValidationError as exc:
            raise _as_input_error(exc) from exc
        key.private_pem = private_pem
        response = Response(SellerKeyGeneratedSerializer(key).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        # The private half is shown once: never kept for an idempotent replay.
        setattr(response, WITHHOLD_ATTRIBUTE, True)
        return response

    @extend_schema(request=None, responses={200: SellerKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = services.seller_key_revoke(key=self.get_object())
        return Response(SellerKeySerializer(key).data)


class SellerProfileViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Seller profiles and payout accounts: yours at /seller-profiles/me/; staff may read all."""

    serializer_class = SellerProfileSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SellerProfile.objects.none()
        return selectors.seller_profiles_visible_to(self.request.user)

    def _save(self, request, profile: SellerProfile | None) -> Response:
        if profile is not None and profile.user_id != request.user.pk:
            raise exceptions.PermissionDenied("Only the seller may change its profile.")
        unknown = sorted(set(request.data) - set(PROFILE_FIELDS))
        payload = SellerProfileSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        if unknown:
            raise exceptions.ValidationError(
                {name: ["This field cannot be changed here."] for name in unknown}
            )
        saved = services.seller_profile_save(seller=request.user, data=payload.validated_data)
        return Response(SellerProfileSerializer(saved).data)

    @extend_schema(request=SellerProfileSerializer, responses={200: SellerProfileSerializer})
    def partial_update(self, request, pk=None):
        return self._save(request, self.get_object())

    @extend_schema(
        methods=["PATCH"], request=SellerProfileSerializer, responses={200: SellerProfileSerializer}
    )
    @extend_schema(methods=["GET"], responses={200: SellerProfileSerializer})
    @action(detail=False, methods=["get", "patch"])
    def me(self, request):
        profile = selectors.seller_profile_of(request.user)
        if request.method == "GET":
            if profile is None:
                raise exceptions.NotFound("You have no seller profile.")
            return Response(SellerProfileSerializer(profile).data)
        return self._save(request, profile)
