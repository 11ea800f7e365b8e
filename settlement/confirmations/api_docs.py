"""The typed shapes of the acknowledgements API (settlement/confirmations/api.py), for /api/schema/
only.

The views build their JSON by hand (api.acknowledgement_json); these serializers describe it field
by field, and the schema test (tests/api/schema_contract.py) validates every answer the test suite
gets against them. The statement to sign is a document of its own format (docs/receipts.md,
"Acknowledgements"), written out as JSON Schema like the receipt file.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers

from ledger.api_docs import HEX
from settlement.confirmations.models import AckAnswer, AckSide, AckState
from settlement.confirmations.statements import ORDER_STATEMENT_TYPE, PAYOUT_STATEMENT_TYPE

ACK_ID = "6c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f"
PAYOUT_ID = "2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809"
ORDER_ID = "3f0c8f4e-6a43-4c1e-9a53-4b1d2f6d9e21"
KEY_ID = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
PAID_AT = "2026-12-07T13:40:01.303587Z"
DUE_AT = "2026-12-14T13:40:01.303587Z"
ANSWERED_AT = "2026-12-08T09:12:44.120931Z"
STATEMENT_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
# Who signed a "received" answer: the seller's key, the buyer's own key, or the buyer's
# platform-held key (a click).
SIGNERS = ["seller", "buyer", "platform_buyer_key"]

_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_UUID = {"type": "string", "format": "uuid"}
_PARTY_ID = {"type": "string", "pattern": "^party_[0-9a-f]{32}$"}


def _statement(type_: str, properties: dict, description: str) -> dict:
    properties = {"type": {"const": type_}, "v": {"const": 1}, **properties}
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
    }


PAYOUT_STATEMENT_SCHEMA = _statement(
    PAYOUT_STATEMENT_TYPE,
    {
        "payout_id": _UUID,
        "seller": _PARTY_ID,
        "amount_minor": _INTEGER,
        "currency": _STRING,
        "bank_reference": {"type": ["string", "null"]},
        "paid_at": _TIME,
        "order_ids": {
            "type": "array",
            "items": _UUID,
            "description": "The orders the payout covers, sorted.",
        },
    },
    "The seller's statement: the payout as paid.",
)
ORDER_STATEMENT_SCHEMA = _statement(
    ORDER_STATEMENT_TYPE,
    {
        "order_id": _UUID,
        "order_number": _STRING,
        "sub_order_id": _INTEGER,
        "buyer": _PARTY_ID,
        "currency": _STRING,
        "total_minor": _INTEGER,
        "captured_minor": _INTEGER,
        "order_document_sha256": {"oneOf": [HEX, {"type": "null"}]},
        "payout_id": _UUID,
        "paid_to_seller_minor": {
            **_INTEGER,
            "description": "What of this order's money the payout carried to the seller.",
        },
        "paid_at": _TIME,
    },
    "A buyer's statement: the order's final record as paid out.",
)
STATEMENT_JSON_SCHEMA = {
    "description": "The statement's bytes as JSON (canonical JSON: sign the bytes, not this).",
    "oneOf": [PAYOUT_STATEMENT_SCHEMA, ORDER_STATEMENT_SCHEMA],
}


@extend_schema_field(STATEMENT_JSON_SCHEMA)
class StatementJsonField(serializers.JSONField):
    pass


class StatementSerializer(serializers.Serializer):
    bytes_base64 = serializers.CharField(
        read_only=True, help_text="Base64 of the statement's exact bytes: what is signed."
    )
    json = StatementJsonField(read_only=True)


class AckCaseSerializer(serializers.Serializer):
    note = serializers.CharField(read_only=True, help_text="What the party said is wrong.")
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    resolution = serializers.CharField(
        read_only=True, allow_null=True, help_text="How staff resolved it."
    )


class AcknowledgementSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    side = serializers.ChoiceField(AckSide.choices, read_only=True)
    state = serializers.ChoiceField(AckState.choices, read_only=True)
    payout_id = serializers.UUIDField(read_only=True)
    order_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The buyer's order (null for the seller's)."
    )
    order_number = serializers.CharField(read_only=True, allow_null=True)
    sub_order_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The buyer's part (null for the seller's)."
    )
    amount_minor = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The payout's amount (the seller's only)."
    )
    currency = serializers.CharField(read_only=True)
    due_at = serializers.DateTimeField(
        read_only=True, help_text="The window's end: unanswered, it lapses then."
    )
    answer = serializers.ChoiceField(AckAnswer.choices, read_only=True, allow_null=True)
    answered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    statement_sha256 = serializers.CharField(
        read_only=True, help_text="Hex SHA-256 of the statement's bytes."
    )
    signer = serializers.ChoiceField(SIGNERS, read_only=True, allow_null=True)
    key_fingerprint = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Hex SHA-256 of the signing key's DER SubjectPublicKeyInfo.",
    )
    case = AckCaseSerializer(
        read_only=True,
        allow_null=True,
        help_text="A 'not received' or 'wrong amount' answer's case (disputed, resolved).",
    )


class AcknowledgementDetailSerializer(AcknowledgementSerializer):
    statement = StatementSerializer(read_only=True, help_text="What to sign.")


class AcknowledgementListSerializer(serializers.Serializer):
    results = AcknowledgementSerializer(
        many=True, read_only=True, help_text="Newest first, at most 100."
    )


class AcknowledgementAnswerSerializer(serializers.Serializer):
    answer = serializers.ChoiceField(
        AckAnswer.choices,
        help_text="received (signed), or not_received / wrong_amount (a case for staff).",
    )
    key_id = serializers.UUIDField(
        required=False, help_text="The seller: the signing key that signed the statement."
    )
    signature = serializers.CharField(
        required=False,
        help_text="Base64 of the signature over the statement's exact bytes (the seller always; "
        "a buyer signing with a key of their own).",
    )
    algorithm = serializers.CharField(
        required=False, help_text="ed25519 or rsa-pss-sha256; must be the key's own."
    )
    public_key_pem = serializers.CharField(
        required=False,
        help_text="A buyer signing with a key of their own: its public half (PEM). Without it "
        "and the signature, the buyer's platform-held key signs.",
    )
    note = serializers.CharField(
        required=False, max_length=500, help_text="With not_received / wrong_amount: what is wrong."
    )


class AcknowledgementResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=500, help_text="How the case was resolved.")


SELLER_STATEMENT = {
    "type": PAYOUT_STATEMENT_TYPE,
    "v": 1,
    "payout_id": PAYOUT_ID,
    "seller": "party_0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "amount_minor": 4369,
    "currency": "EUR",
    "bank_reference": "CH-PO-7K2M9Q",
    "paid_at": PAID_AT,
    "order_ids": [ORDER_ID],
}
SELLER_ACK_EXAMPLE = {
    "id": ACK_ID,
    "side": "seller",
    "state": "pending",
    "payout_id": PAYOUT_ID,
    "order_id": None,
    "order_number": None,
    "sub_order_id": None,
    "amount_minor": 4369,
    "currency": "EUR",
    "due_at": DUE_AT,
    "answer": None,
    "answered_at": None,
    "statement_sha256": STATEMENT_SHA256,
    "signer": None,
    "key_fingerprint": None,
    "case": None,
}
SELLER_ACK_DETAIL_EXAMPLE = {
    **SELLER_ACK_EXAMPLE,
    "statement": {"bytes_base64": "eyJhbW91bnRfbWlub3IiOjQzNjksLi4ufQ==", "json": SELLER_STATEMENT},
}
SELLER_ACK_GIVEN_EXAMPLE = {
    **SELLER_ACK_DETAIL_EXAMPLE,
    "state": "given",
    "answer": "received",
    "answered_at": ANSWERED_AT,
    "signer": "seller",
    "key_fingerprint": "5f3c2a9e0b7d41c6a8e2f19d3b4c5a6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
}
BUYER_ACK_EXAMPLE = {
    **SELLER_ACK_EXAMPLE,
    "id": "7d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
    "side": "buyer",
    "order_id": ORDER_ID,
    "order_number": "CH-7K2M9Q",
    "sub_order_id": 41,
    "amount_minor": None,
}
DISPUTED_ACK_EXAMPLE = {
    **SELLER_ACK_DETAIL_EXAMPLE,
    "state": "disputed",
    "answer": "not_received",
    "answered_at": ANSWERED_AT,
    "case": {"note": "Nothing on my statement yet.", "resolved_at": None, "resolution": None},
}
RESOLVED_ACK_EXAMPLE = {
    **DISPUTED_ACK_EXAMPLE,
    "state": "resolved",
    "case": {
        "note": "Nothing on my statement yet.",
        "resolved_at": "2026-12-09T10:02:13.500000Z",
        "resolution": "The bank confirmed the credit on the 3rd.",
    },
}

LIST_EXAMPLES = [
    OpenApiExample(
        "Waiting on the caller",
        value={"results": [SELLER_ACK_EXAMPLE, BUYER_ACK_EXAMPLE]},
        response_only=True,
    )
]
DETAIL_EXAMPLES = [
    OpenApiExample(
        "A seller's, with its statement", value=SELLER_ACK_DETAIL_EXAMPLE, response_only=True
    )
]
ANSWER_EXAMPLES = [
    OpenApiExample(
        "The seller signs",
        value={
            "answer": "received",
            "key_id": KEY_ID,
            "signature": "MEUCIQ...base64...",
            "algorithm": "ed25519",
        },
        request_only=True,
    ),
    OpenApiExample(
        "The buyer clicks (the platform-held key signs)",
        value={"answer": "received"},
        request_only=True,
    ),
    OpenApiExample(
        "Not received: a case for staff",
        value={"answer": "not_received", "note": "Nothing on my statement yet."},
        request_only=True,
    ),
    OpenApiExample("Acknowledged", value=SELLER_ACK_GIVEN_EXAMPLE, response_only=True),
]
RESOLVE_EXAMPLES = [
    OpenApiExample(
        "The bank confirmed it",
        value={"resolution": "The bank confirmed the credit on the 3rd."},
        request_only=True,
    ),
    OpenApiExample("The case, resolved", value=RESOLVED_ACK_EXAMPLE, response_only=True),
]
