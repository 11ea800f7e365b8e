"""API (settlement), under /api/v1/, read-only; a seller sees its own, staff everything, a buyer
nothing (another's object is a 404, as if it did not exist):

    GET settlement-batches/            batches, newest first (?currency=EUR)
    GET settlement-batches/<id>/       one batch with its lines (the ledger transfers it covers)
    GET payouts/                       payouts, newest first (?status=paid&currency=EUR)
    GET payouts/<id>/                  one payout with its batch's lines and its history
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.renderers import JSONRenderer

from core.errors import ValidationError
from core.money import currency_exponent
from settlement.batches import batch_lines
from settlement.models import Payout, PayoutStatus, SettlementBatch
from settlement.selectors import batches_visible_to, payouts_visible_to

# What a line is, by the reason of its ledger transfer.
LINE_KINDS = {
    "balance_matured": "sale",
    "reserve_released": "reserve_released",
    "refund_posted": "refund",
    "refund_reserved": "refund",
    "fx_conversion_in": "currency_conversion",
    "fx_conversion_out": "currency_conversion",
}
# What a conversion line shows of its ledger metadata: the rate, its time and source, the spread.
FX_LINE_FIELDS = (
    "rate",
    "rate_base",
    "rate_quote",
    "as_of",
    "source",
    "spread_bps",
    "spread_minor",
    "source_minor",
    "source_currency",
    "converted_minor",
    "target_currency",
)


def lines_json(batch: SettlementBatch) -> list[dict]:
    return [
        {
            "transfer": str(line.transfer_id),
            "kind": LINE_KINDS.get(line.reason, line.reason),
            "amount_minor": line.amount_minor,
            "currency": batch.currency,
            "order": line.metadata.get("order"),
            "sub_order": line.metadata.get("sub_order"),
            "reference": line.reference,
            "created_at": line.created_at.isoformat(),
            **(
                {"fx": {name: line.metadata.get(name) for name in FX_LINE_FIELDS}}
                if "fx_conversion" in line.metadata
                else {}
            ),
        }
        for line in batch_lines(batch)
    ]


FX_VALUE = {"type": ["string", "integer", "null"]}
BATCH_LINE_SCHEMA = {
    "type": "object",
    "required": [
        "transfer",
        "kind",
        "amount_minor",
        "currency",
        "order",
        "sub_order",
        "reference",
        "created_at",
    ],
    "properties": {
        "transfer": {"type": "string", "format": "uuid", "description": "The ledger transfer."},
        "kind": {"type": "string", "description": "sale, fee, refund, conversion, ..."},
        "amount_minor": {"type": "integer", "description": "Signed: negative takes away."},
        "currency": {"type": "string"},
        "order": {"type": ["string", "null"]},
        "sub_order": {"type": ["integer", "string", "null"]},
        "reference": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "fx": {
            "type": "object",
            "description": "A conversion's rate, its time and source, and the spread.",
            "properties": {name: FX_VALUE for name in FX_LINE_FIELDS},
        },
    },
}
LINES_SCHEMA = {"type": "array", "items": BATCH_LINE_SCHEMA}


class BatchSerializer(serializers.ModelSerializer):
    seller = serializers.IntegerField(source="seller_id", read_only=True)

    class Meta:
        model = SettlementBatch
        fields = [
            "id",
            "seller",
            "currency",
            "period_start",
            "period_end",
            "net_minor",
            "credits_minor",
            "debits_minor",
            "line_count",
            "created_at",
        ]


class BatchDetailSerializer(BatchSerializer):
    lines = serializers.SerializerMethodField()
    payouts = serializers.SerializerMethodField()

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "payouts", "lines"]

    @extend_schema_field(LINES_SCHEMA)
    def get_lines(self, batch: SettlementBatch) -> list[dict]:
        return lines_json(batch)

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "status", "created_at"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
        }
    )
    def get_payouts(self, batch: SettlementBatch) -> list[dict]:
        return [
            {"id": str(p.pk), "status": p.status, "created_at": p.created_at.isoformat()}
            for p in batch.payouts.order_by("created_at")
        ]


class PayoutSerializer(serializers.ModelSerializer):
    seller = serializers.IntegerField(source="seller_id", read_only=True)
    batch = serializers.UUIDField(source="batch_id", read_only=True)
    iban_last4 = serializers.SerializerMethodField()
    account_last4 = serializers.CharField(read_only=True)  # Payout.account_last4

    class Meta:
        model = Payout
        fields = [
            "id",
            "batch",
            "seller",
            "amount_minor",
            "currency",
            "status",
            "iban_last4",
            "account_last4",
            "bank_reference",
            "failure_code",
            "failure_message",
            "created_at",
            "submitted_at",
            "paid_at",
            "failed_at",
            "returned_at",
        ]

    def get_iban_last4(self, payout: Payout) -> str:
        return payout.iban[-4:]


class PayoutDetailSerializer(PayoutSerializer):
    lines = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(PayoutSerializer.Meta):
        fields = [*PayoutSerializer.Meta.fields, "history", "lines"]

    @extend_schema_field(LINES_SCHEMA)
    def get_lines(self, payout: Payout) -> list[dict]:
        return lines_json(payout.batch)

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "at"],
                "properties": {
                    "kind": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"},
                },
            },
        }
    )
    def get_history(self, payout: Payout) -> list[dict]:
        return [
            {"kind": e.kind, "at": e.created_at.isoformat()}
            for e in payout.events.exclude(kind="contradiction")
        ]


def _by_currency(queryset, request):
    value = request.query_params.get("currency")
    if value is None:
        return queryset
    try:
        # Capitals as ISO 4217 writes them, and money by core.money's one rule (XAU is not).
        if not value.isupper():
            raise ValueError(value)
        currency_exponent(value)
    except (TypeError, ValueError):
        raise ValidationError(
            "currency must be an ISO 4217 code such as EUR.", field="currency"
        ) from None
    return queryset.filter(currency=value)


def _by_status(queryset, request):
    value = request.query_params.get("status")
    if value is None:
        return queryset
    if value not in PayoutStatus.values:
        choices = ", ".join(sorted(PayoutStatus.values))
        raise ValidationError(f"status must be one of: {choices}.", field="status")
    return queryset.filter(status=value)


CURRENCY_PARAMETER = OpenApiParameter(
    "currency", str, description="Only this ISO 4217 currency, e.g. EUR."
)


@extend_schema_view(
    list=extend_schema(
        description="The settlement batches the caller may see (a seller its own), newest "
        "first: a period's released money, net of fees and refunds.",
        parameters=[CURRENCY_PARAMETER],
    ),
    retrieve=extend_schema(description="One batch, with its lines and payouts."),
)
class SettlementBatchViewSet(viewsets.ReadOnlyModelViewSet):
    renderer_classes = [JSONRenderer]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_serializer_class(self):
        return BatchDetailSerializer if self.action == "retrieve" else BatchSerializer

    def get_queryset(self):
        return _by_currency(batches_visible_to(self.request.user), self.request)


@extend_schema_view(
    list=extend_schema(
        description="The payouts the caller may see (a seller its own), newest first.",
        parameters=[
            CURRENCY_PARAMETER,
            OpenApiParameter("status", str, enum=list(PayoutStatus.values)),
        ],
    ),
    retrieve=extend_schema(description="One payout, with its history and its batch's lines."),
)
class PayoutViewSet(viewsets.ReadOnlyModelViewSet):
    renderer_classes = [JSONRenderer]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_serializer_class(self):
        return PayoutDetailSerializer if self.action == "retrieve" else PayoutSerializer

    def get_queryset(self):
        payouts = _by_status(payouts_visible_to(self.request.user), self.request)
        return _by_currency(payouts, self.request)
