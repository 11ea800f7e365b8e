"""What the platform publishes so that anyone can check its seals and receipts offline.

    GET /.well-known/clearhouse-keys.json        keys_document(): every platform signing key with
                                                 its validity period, and the latest tree head
    GET /api/v1/ledger/tree-heads/<size>         the signed tree head of the seal of that size
    GET /api/v1/ledger/consistency?from=A&to=B   PROOF(A, D[B]): the tree of size B extends A's

The formats are specified in docs/receipts.md. A consistency bundle is the ledger's export
(ledger.seals.export_consistency), which ledger.merkle.verify_bundle checks offline.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Min

from core import crypto, signing_keys
from core.models import PublishedSigningKey
from ledger.canonical_transfer import format_time
from ledger.models import Seal
from ledger.seals import SealNotFound, export_consistency, latest_seal, signed_tree_head

KEYS_FORMAT = "clearhouse.keys.v1"
# PostgreSQL's bigint: a larger size would fail in the query rather than find nothing.
MAX_TREE_SIZE = 2**63 - 1


def _publish_configured_key() -> None:
    """Publish the configured key if nothing has signed with it since publishing began.

    A deployment whose seals predate published keys gets its key valid from its first seal, so
    that those tree heads verify too. A retired key is left as it is (it does not sign again).
    """
    key_id = crypto.platform_key_id()
    if PublishedSigningKey.objects.filter(key_id=key_id).exists():
        return
    first_sealed = Seal.objects.filter(key_id=key_id).aggregate(first=Min("sealed_at"))["first"]
    with transaction.atomic():
        signing_keys.signing_key_for_signature(at=first_sealed)


def keys_document() -> dict:
    """/.well-known/clearhouse-keys.json (docs/receipts.md, "The published keys")."""
    _publish_configured_key()
    seal = latest_seal()
    return {
        "format": KEYS_FORMAT,
        "keys": [signing_keys.key_json(key) for key in signing_keys.published_keys()],
        "latest_tree_head": tree_head_json(seal) if seal else None,
    }


def tree_head_json(seal: Seal) -> dict:
    """A seal's signed tree head, with readable copies of what the signed bytes say."""
    return {**signed_tree_head(seal), "sealed_at": format_time(seal.sealed_at)}


def seal_of_size(size: int, *, field: str = "size") -> Seal:
    seal = Seal.objects.filter(tree_size=size).first() if 0 < size <= MAX_TREE_SIZE else None
    if seal is None:
        raise SealNotFound(f"No seal of tree size {size}.", field=field)
    return seal


def consistency_bundle(from_size: int, to_size: int) -> dict:
    """PROOF(from_size, D[to_size]) between two seals, with both signed tree heads."""
    return export_consistency(
        seal_of_size(from_size, field="from"), seal_of_size(to_size, field="to")
    )
