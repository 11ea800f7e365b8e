"""tools/verify_receipt.py, run as a buyer or an auditor would: in its own Python process (-I:
nothing from this repository on its path), given the receipt file and the published keys file.
A good receipt verifies; each kind of bad receipt fails with its own message."""

import base64
import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from core import crypto
from core.canonical import canonical_json
from ledger import merkle
from ledger.canonical_record import record_leaf
from tests.lifecycle.accept_fixtures import key_pool_fixture  # noqa: F401  (the key_pool fixture)
from tests.lifecycle.lifecycle_fixtures import client_for
from tests.settlement.receipt_fixtures import accepted_sale, paid_out, sealed
from tools import verify_receipt as tool

pytestmark = pytest.mark.django_db

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"
OTHER_SEED = base64.b64encode(bytes(range(7, 39))).decode()


def download(user, sale) -> dict:
    response = client_for(user).get(f"/api/v1/orders/{sale.order.pk}/receipt")
    assert response.status_code == 200
    return response.json()


def published_keys() -> dict:
    return Client().get("/.well-known/clearhouse-keys.json").json()


def run_tool(tmp_path, receipt: dict, keys: dict) -> subprocess.CompletedProcess:
    receipt_path, keys_path = tmp_path / "receipt.json", tmp_path / "keys.json"
    receipt_path.write_text(json.dumps(receipt, indent=2, ensure_ascii=False), encoding="utf-8")
    keys_path.write_text(json.dumps(keys), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(TOOL), str(receipt_path), str(keys_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resigned(document: dict) -> dict:
    """The receipt signed again by the platform key: lets a test reach the checks behind the
    platform's signature (as if the platform itself had signed something wrong)."""
    document = copy.deepcopy(document)
    key_id, signature = crypto.platform_sign(canonical_json(document["receipt"]))
    document["signature"] = {
        "key_id": key_id,
        "algorithm": "ed25519",
        "value": base64.b64encode(signature).decode(),
    }
    return document


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def sealed_receipt(key_pool):
    """A confirmed, paid-out sale whose receipt (downloaded by the buyer) a seal covers."""
    sale = accepted_sale(key_pool)
    paid_out(sale)
    download(sale.buyer, sale)
    sealed()
    return sale, download(sale.buyer, sale)


def test_a_sealed_receipt_downloaded_by_buyer_and_seller_verifies_in_a_separate_process(
    sealed_receipt, tmp_path
):
    sale, receipt = sealed_receipt
    assert download(sale.seller, sale) == receipt

    result = run_tool(tmp_path, receipt, published_keys())

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"receipt {receipt['receipt']['receipt_id']} of order {sale.order.number} "
        f"(sub-order {sale.sub_order.pk}), provisional"
    )
    assert "ok: the seller's acceptance signature verifies over the order document" in lines
    assert "ok: the inclusion proof leads to the tree head's root" in lines
    assert lines[-1] == "VERIFIED"


def test_a_receipt_issued_before_its_seal_verifies_and_gets_its_proof_when_fetched_again(
    key_pool, tmp_path
):
    sale = accepted_sale(key_pool)
    early = download(sale.buyer, sale)

    unsealed = run_tool(tmp_path, early, published_keys())

    assert unsealed.returncode == 3
    assert "NOT SEALED YET" in unsealed.stdout
    assert early["inclusion"] is None

    sealed()
    later = download(sale.buyer, sale)

    assert later["receipt"] == early["receipt"] and later["signature"] == early["signature"]
    assert later["inclusion"] is not None
    assert run_tool(tmp_path, later, published_keys()).returncode == 0


def test_a_receipt_signed_with_an_rsa_key_verifies(key_pool, tmp_path):
    sale = accepted_sale(key_pool, algorithm=crypto.RSA_PSS_SHA256)
    download(sale.buyer, sale)
    sealed()

    result = run_tool(tmp_path, download(sale.buyer, sale), published_keys())

    assert result.returncode == 0, result.stdout
    assert download(sale.buyer, sale)["receipt"]["acceptance"]["signature"]["algorithm"] == (
        "rsa-pss-sha256"
    )


def test_a_receipt_still_verifies_after_the_platform_key_is_rotated(
    sealed_receipt, tmp_path, settings
):
    _, receipt = sealed_receipt
    settings.CLEARHOUSE_SIGNING_KEY = OTHER_SEED
    keys_after = published_keys()  # the new key is published next to the old one

    assert [k["status"] for k in keys_after["keys"]] == ["retired", "current"]
    assert run_tool(tmp_path, receipt, keys_after).returncode == 0


# --- Each bad receipt fails with its own message -----------------------------------------------


def one_byte_changed(receipt, keys, context):
    receipt["receipt"]["items"][0]["title"] = "X" + receipt["receipt"]["items"][0]["title"][1:]
    return receipt, keys


def signed_by_an_unknown_key(receipt, keys, context):
    context["settings"].CLEARHOUSE_SIGNING_KEY = OTHER_SEED
    return resigned(receipt), keys


def signed_by_an_expired_key(receipt, keys, context):
    """The key was rotated out; a receipt it signed afterwards (a stolen old key) is refused."""
    settings = context["settings"]
    old_seed = settings.CLEARHOUSE_SIGNING_KEY
    settings.CLEARHOUSE_SIGNING_KEY = OTHER_SEED
    keys = published_keys()  # publishes the new key: the old one's period ends now
    receipt["receipt"]["issued_at"] = utc_text(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    settings.CLEARHOUSE_SIGNING_KEY = old_seed
    return resigned(receipt), keys


def with_the_proof_of_another_receipt(receipt, keys, context):
    receipt["inclusion"] = context["other"]["inclusion"]
    return receipt, keys


def with_a_tree_head_from_another_log(receipt, keys, context):
    """Another log (another key) with its own leaves: its tree head cannot vouch for this one."""
    settings = context["settings"]
    settings.CLEARHOUSE_SIGNING_KEY = OTHER_SEED
    head = json.loads(base64.b64decode(receipt["inclusion"]["tree_head"]["tree_head"]))
    head["root_hash"] = merkle.root_from_leaves([b"another log"] * head["tree_size"]).hex()
    head_bytes = canonical_json(head)
    key_id, signature = crypto.platform_sign(head_bytes)
    receipt["inclusion"]["tree_head"] = {
        "tree_head": base64.b64encode(head_bytes).decode(),
        "signature": base64.b64encode(signature).decode(),
        "key_id": key_id,
    }
    return receipt, keys


def with_an_inclusion_proof_one_hash_too_long(receipt, keys, context):
    receipt["inclusion"]["audit_path"].append("00" * 32)
    return receipt, keys


def with_an_inclusion_proof_one_hash_short(receipt, keys, context):
    receipt["inclusion"]["audit_path"].pop()
    return receipt, keys


def with_an_audit_path_hash_changed(receipt, keys, context):
    path = receipt["inclusion"]["audit_path"]
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    return receipt, keys


def with_a_tree_head_signature_changed(receipt, keys, context):
    signature = bytearray(base64.b64decode(receipt["inclusion"]["tree_head"]["signature"]))
    signature[0] ^= 1
    receipt["inclusion"]["tree_head"]["signature"] = base64.b64encode(signature).decode()
    return receipt, keys


def with_a_readable_tree_size_changed(receipt, keys, context):
    receipt["inclusion"]["tree_head"]["tree_size"] += 1
    return receipt, keys


def with_a_bad_seller_signature(receipt, keys, context):
    signature = receipt["receipt"]["acceptance"]["signature"]
    value = bytearray(base64.b64decode(signature["value"]))
    value[-1] ^= 1
    signature["value"] = base64.b64encode(bytes(value)).decode()
    # Keep the record's binding right, so that the signature itself is what fails.
    receipt["receipt"]["confirmation_record"]["acceptance_signature_sha256"] = crypto.sha256(
        bytes(value)
    ).hex()
    record = receipt["receipt"]["confirmation_record"]
    receipt["receipt"]["confirmation_record_hash"] = crypto.sha256(canonical_json(record)).hex()
    return resigned(receipt), keys


def with_another_confirmation_record(receipt, keys, context):
    receipt["receipt"]["confirmation_record"]["state"] = "complete"
    return resigned(receipt), keys


def with_the_document_of_another_order(receipt, keys, context):
    acceptance = receipt["receipt"]["acceptance"]
    mine = context["other"]["receipt"]["acceptance"]
    acceptance["signature"] = mine["signature"]
    acceptance["order_document_sha256"] = mine["order_document_sha256"]
    record = receipt["receipt"]["confirmation_record"]
    record["order_document_sha256"] = mine["order_document_sha256"]
    record["acceptance_signature_sha256"] = crypto.sha256(
        base64.b64decode(mine["signature"]["value"])
    ).hex()
    receipt["receipt"]["confirmation_record_hash"] = crypto.sha256(canonical_json(record)).hex()
    return resigned(receipt), keys


BAD_RECEIPTS = {
    one_byte_changed: "FAILED receipt_signature: the platform's signature (key",
    signed_by_an_unknown_key: "FAILED receipt_key: the receipt is signed by key",
    signed_by_an_expired_key: "FAILED receipt_key_period: key",
    with_the_proof_of_another_receipt: "FAILED inclusion_leaf: the inclusion proof is for "
    "another leaf",
    with_a_tree_head_from_another_log: "FAILED tree_head_key: the tree head is signed by key",
    with_an_inclusion_proof_one_hash_too_long: "FAILED inclusion_proof_length: the inclusion "
    "proof has",
    with_an_inclusion_proof_one_hash_short: "FAILED inclusion_proof_length: the inclusion "
    "proof has",
    with_an_audit_path_hash_changed: "FAILED inclusion_proof: the inclusion proof does not lead",
    with_a_tree_head_signature_changed: "FAILED tree_head_signature: the tree head's signature",
    with_a_readable_tree_size_changed: "FAILED tree_head_format: the readable tree_size differs",
    with_a_bad_seller_signature: "FAILED seller_signature: the seller's acceptance signature "
    "does not verify",
    with_another_confirmation_record: "FAILED confirmation_record_hash: "
    "confirmation_record_hash is",
    with_the_document_of_another_order: "FAILED order_document: the seller signed the document "
    "of sub-order",
}


@pytest.fixture
def two_sealed_receipts(key_pool):
    sales = [accepted_sale(key_pool), accepted_sale(key_pool)]
    for sale in sales:
        download(sale.buyer, sale)
    sealed()
    return [download(sale.buyer, sale) for sale in sales]


@pytest.mark.parametrize("spoil", list(BAD_RECEIPTS), ids=lambda spoil: spoil.__name__)
def test_each_bad_receipt_fails_with_its_own_message(
    two_sealed_receipts, tmp_path, settings, spoil
):
    receipt, other = two_sealed_receipts
    keys = published_keys()
    assert run_tool(tmp_path, receipt, keys).returncode == 0
    context = {"settings": settings, "other": other}

    bad_receipt, bad_keys = spoil(copy.deepcopy(receipt), keys, context)
    result = run_tool(tmp_path, bad_receipt, bad_keys)

    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith(BAD_RECEIPTS[spoil]), result.stdout
    assert len(result.stdout.splitlines()) == 1


def test_the_expected_messages_are_all_different():
    prefixes = [message.split(":")[0] for message in BAD_RECEIPTS.values()]
    # Two spoilings share one check (the proof's length, too long and too short).
    assert len(set(prefixes)) == len(prefixes) - 1


def test_unreadable_files_are_named(tmp_path):
    (tmp_path / "receipt.json").write_text("{not json")
    (tmp_path / "keys.json").write_text("{}")
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            str(TOOL),
            str(tmp_path / "receipt.json"),
            str(tmp_path / "keys.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout.startswith("UNREADABLE:")


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "a": 2}', '{"amount_minor": 1.0}', '{"x": NaN}', '{"x": 1e3}'],
)
def test_the_tool_reads_json_strictly(text):
    with pytest.raises(ValueError):
        tool.load_json(text.encode())


# --- The tool's few lines of canonical JSON and Merkle proof agree with the ledger's ----------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_the_tools_canonical_json_is_core_canonical_json(value):
    try:
        expected = canonical_json(value)
    except ValueError:
        with pytest.raises(ValueError):
            tool.canonical_json(value)
        return
    assert tool.canonical_json(value) == expected


def test_the_tools_inclusion_check_agrees_with_the_ledgers_merkle_trees():
    leaves = [merkle.leaf_hash(bytes([n])) for n in range(40)]
    for size in range(1, 41):
        root = merkle.root_from_leaf_hashes(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index, size)
            assert tool.inclusion_path_length(index, size) == len(proof)
            assert tool.root_from_inclusion_proof(leaves[index], index, size, proof) == root
            if proof:
                assert (
                    tool.root_from_inclusion_proof(leaves[index], index, size, proof[:-1]) != root
                )
                other = leaves[(index + 1) % size]
                assert tool.root_from_inclusion_proof(other, index, size, proof) != root


def test_the_tools_receipt_leaf_is_the_ledgers_record_leaf():
    assert tool.receipt_leaf(b'{"a":1}') == record_leaf("receipt", b'{"a":1}')
    assert merkle.leaf_hash(b"x") == tool.leaf_hash(b"x")
