"""The typed shape of the receipt file (docs/receipts.md, "The receipt file"), for /api/schema/.

JSON Schema (OpenAPI 3.1) written out: the file is a signed document of its own format, checked
offline by tools/verify_receipt.py; the schema test validates the API's real answers against it.
"""

from __future__ import annotations

from ledger.api_docs import BASE64, HEX, TREE_HEAD_SCHEMA

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
TIME = {"type": "string", "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}


def nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


def obj(properties: dict, *, required: list[str] | None = None, **extra) -> dict:
    """An object with these properties, all required unless `required` names fewer."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        **extra,
    }


INNER_SIGNATURE = obj(
    {
        "algorithm": {"enum": ["ed25519", "rsa-pss-sha256"]},
        "public_key_pem": STRING,
        "message": {**BASE64, "description": "The exact bytes signed."},
        "value": BASE64,
        "signer": STRING,
        "key_fingerprint": HEX,
    },
    required=["algorithm", "public_key_pem", "message", "value"],
)
PARTY = obj(
    {
        "id": {
            "type": "string",
            "pattern": "^party_[0-9a-f]{32}$",
            "examples": ["party_0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
        },
        "display_name": STRING,
    }
)
BUYER_CONFIRMATION = obj(
    {
        "state": {"enum": ["confirmed", "awaiting", "disputed", "none"]},
        "at": nullable(TIME),
        "by": nullable({"enum": ["buyer", "auto", "staff"]}),
        "signature": nullable(INNER_SIGNATURE),
    }
)
ACKNOWLEDGEMENT = obj(
    {
        "state": {"enum": ["absent", "pending", "given", "lapsed", "disputed", "resolved"]},
        "at": nullable(TIME),
        "answer": nullable({"enum": ["received", "not_received", "wrong_amount"]}),
        "statement_sha256": nullable(HEX),
        "signature": nullable(INNER_SIGNATURE),
        "case": nullable(obj({"opened_at": TIME, "resolved_at": nullable(TIME)})),
    },
    description="One side's acknowledgement of one payout (docs/receipts.md, the confirmation "
    "record): `signature` is over the statement whose SHA-256 is `statement_sha256`.",
)
CONFIRMATION_RECORD = obj(
    {
        "type": {"const": "clearhouse.confirmation_record"},
        "v": {"const": 1},
        "order_id": UUID,
        "sub_order_id": INTEGER,
        "state": {"enum": ["open", "complete"]},
        "completed_at": nullable(TIME),
        "corrects": nullable(HEX),
        "order_document_sha256": nullable(HEX),
        "acceptance_signature_sha256": nullable(HEX),
        "accepted_at": nullable(TIME),
        "buyer_confirmation": BUYER_CONFIRMATION,
        "payouts": {
            "type": "array",
            "description": "Each payout of this part's money, with both sides' acknowledgements.",
            "items": obj(
                {
                    "id": STRING,
                    "status": STRING,
                    "amount_minor": INTEGER,
                    "currency": STRING,
                    "bank_reference": nullable(STRING),
                    "paid_at": nullable(TIME),
                    "seller_acknowledgement": ACKNOWLEDGEMENT,
                    "buyer_acknowledgement": ACKNOWLEDGEMENT,
                }
            ),
        },
    }
)
RECEIPT_OBJECT = obj(
    {
        "type": {"const": "clearhouse.receipt"},
        "v": {"const": 1},
        "receipt_id": UUID,
        "sequence": {"type": "integer", "minimum": 1},
        "supersedes": nullable(obj({"receipt_id": UUID, "sha256": HEX})),
        "status": {"enum": ["provisional", "final"]},
        "issued_at": TIME,
        "order": obj({"id": UUID, "number": STRING, "created_at": TIME}),
        "sub_order": obj({"id": INTEGER, "status": STRING}),
        "buyer": PARTY,
        "seller": PARTY,
        "currency": STRING,
        "items": {
            "type": "array",
            "items": obj(
                {
                    "title": STRING,
                    "unit_price_minor": INTEGER,
                    "quantity": INTEGER,
                    "amount_minor": INTEGER,
                }
            ),
        },
        "amounts": obj(
            {
                "total_minor": INTEGER,
                "captured_minor": INTEGER,
                "refunded_minor": INTEGER,
                "fee_minor": nullable(INTEGER),
                "net_to_seller_minor": nullable(INTEGER),
            }
        ),
        "payment": nullable(
            obj(
                {
                    "id": UUID,
                    "method": {"enum": ["card", "wallet", "bank_transfer"]},
                    "status": STRING,
                }
            )
        ),
        "refunds": {
            "type": "array",
            "items": obj(
                {
                    "id": UUID,
                    "amount_minor": INTEGER,
                    "status": STRING,
                    "source": STRING,
                    "reason": STRING,
                    "created_at": TIME,
                }
            ),
        },
        "times": obj(
            {
                "ordered_at": nullable(TIME),
                "accepted_at": nullable(TIME),
                "shipped_at": nullable(TIME),
                "confirmed_at": nullable(TIME),
            }
        ),
        "acceptance": nullable(
            obj(
                {
                    "accepted_at": TIME,
                    "order_document_sha256": HEX,
                    "signature": INNER_SIGNATURE,
                }
            )
        ),
        "buyer_confirmation": BUYER_CONFIRMATION,
        "ledger_transfer_ids": {"type": "array", "items": UUID},
        "confirmation_record": CONFIRMATION_RECORD,
        "confirmation_record_hash": HEX,
    }
)
RECEIPT_FILE_SCHEMA = obj(
    {
        "format": {"const": "clearhouse.receipt.v1"},
        "receipt": RECEIPT_OBJECT,
        "signature": obj(
            {
                "key_id": STRING,
                "algorithm": {"const": "ed25519"},
                "value": {**BASE64, "description": "Over the canonical bytes of `receipt`."},
            }
        ),
        "inclusion": nullable(
            obj(
                {
                    "log_index": {"type": "integer", "minimum": 0},
                    "leaf_hash": HEX,
                    "audit_path": {"type": "array", "items": HEX},
                    "tree_head": TREE_HEAD_SCHEMA,
                }
            )
        ),
    },
    description="A signed receipt: verify it offline with tools/verify_receipt.py.",
)
