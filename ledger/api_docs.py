"""The typed shapes of the ledger's public API (tree heads, consistency proofs), for /api/schema/.

JSON Schema (OpenAPI 3.1) written out, as the answers are documents of their own format
(docs/receipts.md, "Tree heads"); the schema test validates real answers against them.
"""

from __future__ import annotations

HEX = {"type": "string", "pattern": "^[0-9a-f]+$"}
BASE64 = {"type": "string", "contentEncoding": "base64"}

SIGNED_HEAD_SCHEMA = {
    "type": "object",
    "description": "A signed tree head: the verifier reads the signed bytes in `tree_head`; "
    "`tree_size` and `root_hash` are readable copies.",
    "required": ["tree_head", "signature", "key_id", "tree_size", "root_hash"],
    "properties": {
        "tree_head": {**BASE64, "description": "The canonical JSON bytes that are signed."},
        "signature": {**BASE64, "description": "Ed25519 over the tree_head bytes."},
        "key_id": {"type": "string"},
        "tree_size": {"type": "integer", "minimum": 1},
        "root_hash": HEX,
    },
}
# As published on its own: with a readable copy of when it was sealed.
TREE_HEAD_SCHEMA = {
    **SIGNED_HEAD_SCHEMA,
    "required": [*SIGNED_HEAD_SCHEMA["required"], "sealed_at"],
    "properties": {
        **SIGNED_HEAD_SCHEMA["properties"],
        "sealed_at": {"type": "string", "format": "date-time"},
    },
}

CONSISTENCY_SCHEMA = {
    "type": "object",
    "required": ["format", "old_seal", "new_seal", "proof", "public_key_id"],
    "properties": {
        "format": {"type": "string"},
        "old_seal": {**SIGNED_HEAD_SCHEMA, "description": "The older tree's signed head."},
        "new_seal": {**SIGNED_HEAD_SCHEMA, "description": "The newer tree's signed head."},
        "proof": {"type": "array", "items": HEX, "description": "RFC 6962 consistency proof."},
        "public_key_id": {"type": "string"},
    },
}

TREE_HEAD_EXAMPLE = {
    "tree_head": "eyJyb290X2hhc2giOiIuLi4ifQ==",
    "signature": "p3XxV0g...base64...==",
    "key_id": "824c89aa8efb95ef",
    "tree_size": 9,
    "root_hash": "5f3c2a9e0b7d41c6a8e2f19d3b4c5a6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
    "sealed_at": "2026-12-07T13:40:02.000000Z",
}
