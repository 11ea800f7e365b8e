"""What the platform publishes for offline verifiers: its keys, tree heads and consistency proofs."""

import base64
import datetime as dt
import json

import pytest
from django.test import Client

from core import crypto
from ledger import merkle, seals
from ledger.models import LogEntry
from tests.ledger.seal_factories import post, some_transfers

pytestmark = pytest.mark.django_db

SEED_B = base64.b64encode(bytes(range(101, 133))).decode()


@pytest.fixture
def anonymous() -> Client:
    return Client()


def more_transfers(accounts: dict, count: int) -> None:
    for number in range(count):
        post(accounts["escrow"], accounts["seller"], 10 + number)


def two_seals():
    """Seals of sizes 5 and 13."""
    _, accounts = some_transfers(5)
    old = seals.ledger_seal()
    more_transfers(accounts, 8)
    new = seals.ledger_seal()
    return old, new, accounts


def head_fields(signed: dict) -> dict:
    return json.loads(base64.b64decode(signed["tree_head"]))


def test_the_keys_file_lists_the_signing_key_and_the_latest_signed_tree_head(anonymous):
    _, new, _ = two_seals()

    response = anonymous.get("/.well-known/clearhouse-keys.json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["Access-Control-Allow-Origin"] == "*"
    document = response.json()
    assert document["format"] == "clearhouse.keys.v1"
    [key] = document["keys"]
    assert key["key_id"] == crypto.platform_key_id()
    assert key["algorithm"] == "ed25519"
    assert key["public_key_pem"] == crypto.platform_public_key_pem()
    assert key["status"] == "current"
    assert key["valid_until"] is None
    head = document["latest_tree_head"]
    assert head["key_id"] == new.key_id
    assert head_fields(head)["tree_size"] == new.tree_size == head["tree_size"]
    assert head["root_hash"] == bytes(new.root_hash).hex() == head_fields(head)["root_hash"]
    crypto.verify(
        key["public_key_pem"],
        base64.b64decode(head["tree_head"]),
        base64.b64decode(head["signature"]),
        algorithm="ed25519",
    )


def test_a_fresh_platform_publishes_its_key_before_anything_is_sealed(anonymous):
    document = anonymous.get("/.well-known/clearhouse-keys.json").json()

    assert [k["key_id"] for k in document["keys"]] == [crypto.platform_key_id()]
    assert document["latest_tree_head"] is None


def test_a_rotated_key_stays_published_with_its_period_closed(anonymous, settings):
    old_seal, _, accounts = two_seals()
    old_key = crypto.platform_key_id()
    settings.CLEARHOUSE_SIGNING_KEY = SEED_B
    more_transfers(accounts, 2)
    newest = seals.ledger_seal()

    document = anonymous.get("/.well-known/clearhouse-keys.json").json()

    retired, current = document["keys"]
    assert retired["key_id"] == old_key == old_seal.key_id
    assert retired["status"] == "retired"
    assert retired["valid_until"] is not None
    assert current["key_id"] == newest.key_id == crypto.platform_key_id() != old_key
    assert current["valid_from"] == retired["valid_until"]
    assert document["latest_tree_head"]["key_id"] == current["key_id"]


def test_a_tree_head_by_size(anonymous):
    old, _, _ = two_seals()

    response = anonymous.get(f"/api/v1/ledger/tree-heads/{old.tree_size}")

    assert response.status_code == 200
    body = response.json()
    assert head_fields(body) == {
        "v": 1,
        "type": "clearhouse.ledger.tree_head",
        "tree_size": old.tree_size,
        "root_hash": bytes(old.root_hash).hex(),
        "sealed_at": body["sealed_at"],
        "previous_hash": bytes(32).hex(),
    }
    assert dt.datetime.fromisoformat(body["sealed_at"]) == old.sealed_at


@pytest.mark.parametrize("size", ["4", "0", "9223372036854775807", "99999999999999999999999"])
def test_no_seal_of_that_size_is_a_404_in_the_error_shape(anonymous, size):
    two_seals()

    response = anonymous.get(f"/api/v1/ledger/tree-heads/{size}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ledger_seal_not_found"


def test_a_consistency_proof_between_two_real_tree_heads_verifies_offline(anonymous):
    old, new, _ = two_seals()

    response = anonymous.get(f"/api/v1/ledger/consistency?from={old.tree_size}&to={new.tree_size}")

    assert response.status_code == 200
    proved = merkle.verify_bundle(response.json(), crypto.platform_public_key_pem())
    assert proved["old_tree_head"]["tree_size"] == old.tree_size
    assert proved["new_tree_head"]["tree_size"] == new.tree_size


def test_a_rewritten_history_fails_the_consistency_check_against_the_old_head(anonymous):
    """The operator rewrites an early transfer and signs a head over the new log: an auditor
    holding the old head sees that the new tree does not extend it."""
    old, new, _ = two_seals()
    leaves = [
        bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)
    ]
    rewritten = [merkle.leaf_hash(b"a rewritten transfer"), *leaves[1:]]
    forged_head = seals.tree_head_bytes(
        tree_size=new.tree_size,
        root_hash=merkle.root_from_leaf_hashes(rewritten),
        sealed_at=new.sealed_at,
        previous_hash=seals.seal_head_hash(old),
    )
    key_id, signature = crypto.platform_sign(forged_head)
    bundle = anonymous.get(
        f"/api/v1/ledger/consistency?from={old.tree_size}&to={new.tree_size}"
    ).json()
    bundle["new_seal"] = {
        "tree_head": base64.b64encode(forged_head).decode(),
        "signature": base64.b64encode(signature).decode(),
        "key_id": key_id,
    }
    bundle["proof"] = [
        h.hex() for h in merkle.consistency_proof(rewritten, old.tree_size, new.tree_size)
    ]

    with pytest.raises(merkle.BundleInvalid, match="is not an extension of the tree of size 5"):
        merkle.verify_bundle(bundle, crypto.platform_public_key_pem())


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("", 400, "from"),
        ("from=5", 400, "to"),
        ("from=five&to=13", 400, "from"),
        ("from=-5&to=13", 400, "from"),
        ("from=13&to=5", 400, "from"),
        ("from=4&to=13", 404, "from"),
        ("from=5&to=14", 404, "to"),
    ],
)
def test_a_bad_consistency_request_is_refused_clearly(anonymous, query, status, field):
    two_seals()

    response = anonymous.get(f"/api/v1/ledger/consistency?{query}")

    assert response.status_code == status
    assert response.json()["error"]["field"] == field
