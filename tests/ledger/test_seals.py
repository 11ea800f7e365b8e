"""Appending queued transfers to the log, sealing it, and proving inclusion and consistency."""

import base64
import datetime as dt
import hashlib
import json
import threading
import uuid

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from core import crypto
from ledger import merkle, seals
from ledger.canonical_transfer import transfer_canonical_bytes, transfer_leaf_hash
from ledger.models import LogEntry, LogQueue, Seal, Transfer
from ledger.tasks import seal_ledger
from tests.ledger.seal_factories import make_account, post, some_transfers

pytestmark = pytest.mark.django_db


def stored_leaf_hashes() -> list[bytes]:
    return [
        bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)
    ]


# --- Canonical bytes ------------------------------------------------------------------------


def test_canonical_bytes_hold_every_field_in_a_versioned_format():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    created = dt.datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=dt.UTC)
    transfer = post(
        debit,
        credit,
        1234,
        kind="pending",
        reference="order:12",
        metadata={"b": [1, "x"], "a": "é"},
        created_at=created,
        timeout_at=created + dt.timedelta(days=1),
    )
    transfer.refresh_from_db()
    raw = transfer_canonical_bytes(transfer)
    assert json.loads(raw) == {
        "v": 1,
        "id": str(transfer.id),
        "kind": "pending",
        "debit_account_id": debit.id,
        "credit_account_id": credit.id,
        "amount_minor": 1234,
        "currency": "EUR",
        "pending_id": None,
        "timeout_at": "2026-02-01T12:00:00.123456Z",
        "batch_id": None,
        "reason": "test",
        "reference": "order:12",
        "metadata": {"a": "é", "b": [1, "x"]},
        "created_at": "2026-01-31T12:00:00.123456Z",
    }
    assert raw.startswith(b'{"amount_minor":1234,"batch_id":null,')
    assert transfer_leaf_hash(transfer) == hashlib.sha256(b"\x00" + raw).digest()


def test_any_field_change_changes_the_leaf_hash():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    transfer = post(debit, credit, 100)
    transfer.refresh_from_db()
    original = transfer_leaf_hash(transfer)
    for name, value in [
        ("amount_minor", 101),
        ("reason", "other"),
        ("reference", "x"),
        ("metadata", {"k": 1}),
        ("created_at", transfer.created_at + dt.timedelta(microseconds=1)),
        ("credit_account_id", debit.id),
        ("batch_id", uuid.uuid4()),
    ]:
        changed = Transfer.objects.get(pk=transfer.pk)
        setattr(changed, name, value)
        assert transfer_leaf_hash(changed) != original, name


# --- Appending --------------------------------------------------------------------------------


def test_append_gives_dense_indexes_in_created_at_then_id_order_and_empties_the_queue():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    late = post(debit, credit, 1, created_at=base + dt.timedelta(seconds=5))
    tied = [post(debit, credit, 2, created_at=base) for _ in range(3)]
    early = post(debit, credit, 3, created_at=base - dt.timedelta(seconds=5))

    appended = seals.ledger_append_queued()

    assert appended == 5
    expected = [early.id, *sorted(t.id for t in tied), late.id]
    entries = list(LogEntry.objects.order_by("index"))
    assert [e.index for e in entries] == [0, 1, 2, 3, 4]
    assert [e.transfer_id for e in entries] == expected
    for entry in entries:
        assert bytes(entry.leaf_hash) == transfer_leaf_hash(
            Transfer.objects.get(pk=entry.transfer_id)
        )
    assert LogQueue.objects.count() == 0
    assert seals.ledger_append_queued() == 0


def test_append_takes_a_bounded_batch_and_continues_where_it_stopped():
    transfers, _ = some_transfers(7)
    assert seals.ledger_append_queued(limit=3) == 3
    assert LogEntry.objects.count() == 3
    assert LogQueue.objects.count() == 4
    assert seals.ledger_append_queued(limit=3) == 3
    assert seals.ledger_append_queued(limit=3) == 1
    assert list(LogEntry.objects.order_by("index").values_list("transfer_id", flat=True)) == [
        t.id for t in transfers
    ]
    with pytest.raises(ValueError):
        seals.ledger_append_queued(limit=0)
    with pytest.raises(ValueError):
        seals.ledger_append_queued(limit=seals.MAX_APPEND_BATCH_SIZE + 1)


def test_append_all_carries_its_position_and_still_catches_a_late_commit():
    transfers, _ = some_transfers(7)
    debit, credit = make_account("late-a", "EUR"), make_account("late-b", "EUR")
    # Committed after the others but stamped before all of them (a slow transaction).
    late = post(debit, credit, 1, created_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    assert seals.ledger_append_all_queued(batch_size=3) == 8

    assert LogQueue.objects.count() == 0
    logged = list(LogEntry.objects.order_by("index").values_list("transfer_id", flat=True))
    assert sorted(logged) == sorted([late.id, *(t.id for t in transfers)])
    assert seals.ledger_append_all_queued(batch_size=3) == 0


def test_append_all_stops_after_max_batches():
    some_transfers(7)
    assert seals.ledger_append_all_queued(batch_size=2, max_batches=2) == 4
    assert LogQueue.objects.count() == 3


def test_sql_canonical_columns_give_the_same_bytes_as_the_orm():
    from ledger.canonical_transfer import canonical_text_values, pg_canonical_columns

    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    pending = post(
        debit,
        credit,
        5,
        kind="pending",
        metadata={
            "z": {"nested": [1, 2, {"k": None}]},
            "ünï": "çødé ✓",
            "big": 2**53 - 1,
            "t": True,
        },
        created_at=dt.datetime(
            2026, 6, 30, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=5))
        ),
        timeout_at=dt.datetime(2026, 7, 1, 0, 0, 0, 0, tzinfo=dt.UTC),
    )
    from tests.ledger.seal_factories import close

    closing = close(pending, amount_minor=4)
    Transfer.objects.filter(pk=closing.pk).update(batch_id=uuid.uuid4())
    for transfer in Transfer.objects.all():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pg_canonical_columns('t')} FROM ledger_transfer t WHERE t.id = %s",
                [transfer.id],
            )
            row = cursor.fetchone()
        assert canonical_text_values(row) == transfer_canonical_bytes(transfer)


# --- Sealing ----------------------------------------------------------------------------------


def test_first_seal_signs_the_root_of_the_log_and_chains_to_zero():
    transfers, _ = some_transfers(6)
    sealed_at = dt.datetime(2026, 4, 1, 9, 30, 0, 5, tzinfo=dt.UTC)

    seal = seals.ledger_seal(now=sealed_at)

    seal.refresh_from_db()
    assert seal.tree_size == 6
    assert bytes(seal.root_hash) == merkle.root_from_leaf_hashes(
        [
            transfer_leaf_hash(t)
            for t in Transfer.objects.filter(pk__in=[t.pk for t in transfers]).order_by(
                "created_at", "id"
            )
        ]
    )
    assert bytes(seal.previous_hash) == bytes(32)
    assert seal.sealed_at == sealed_at
    assert seal.key_id == crypto.platform_key_id()
    head = seals.seal_head_bytes(seal)
    assert json.loads(head) == {
        "v": 1,
        "type": "clearhouse.ledger.tree_head",
        "tree_size": 6,
        "root_hash": bytes(seal.root_hash).hex(),
        "sealed_at": "2026-04-01T09:30:00.000005Z",
        "previous_hash": "00" * 32,
    }
    crypto.platform_verify(head, bytes(seal.signature))
    assert seals.verify_seal_signature(seal)
    assert LogQueue.objects.count() == 0


def test_seal_is_idempotent_and_chains_each_new_seal_to_the_last():
    some_transfers(4)
    first = seals.ledger_seal()
    assert seals.ledger_seal() is None
    assert seals.ledger_seal() is None
    assert Seal.objects.count() == 1

    debit, credit = make_account("c", "EUR"), make_account("d", "EUR")
    post(debit, credit, 5)
    post(debit, credit, 6)
    second = seals.ledger_seal()

    assert second.tree_size == 6
    assert bytes(second.previous_hash) == hashlib.sha256(seals.seal_head_bytes(first)).digest()
    assert bytes(second.root_hash) == merkle.root_from_leaf_hashes(stored_leaf_hashes())
    assert Seal.objects.count() == 2


def test_nothing_to_seal_on_an_empty_ledger():
    assert seals.ledger_seal() is None
    assert Seal.objects.count() == 0


def test_seal_appends_in_several_bounded_batches():
    some_transfers(11)
    seal = seals.ledger_seal(batch_size=3)
    assert seal.tree_size == 11
    assert LogQueue.objects.count() == 0


def test_a_transfer_committed_late_with_an_earlier_time_is_logged_in_the_same_run(monkeypatch):
    transfers, accounts = some_transfers(7)
    real_append = seals._append_batch
    late = []

    def append_then_commit_a_late_one(limit, *, after):
        result = real_append(limit, after=after)
        if not late:
            # Committed now, but created before everything already queued.
            late.append(
                post(
                    accounts["escrow"],
                    accounts["seller"],
                    1,
                    created_at=transfers[0].created_at - dt.timedelta(seconds=1),
                )
            )
        return result

    monkeypatch.setattr(seals, "_append_batch", append_then_commit_a_late_one)
    seal = seals.ledger_seal(batch_size=3)

    assert seal.tree_size == 8
    order = list(LogEntry.objects.order_by("index").values_list("transfer_id", flat=True))
    # Batches of 3 from the start, then after t2, then after t5 (one left), then a sweep from
    # the start finds the late one.
    assert order == [*(t.id for t in transfers), late[0].id]
    assert LogQueue.objects.count() == 0


def test_a_transfer_that_canonical_json_refuses_stops_the_append_with_its_name():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    post(debit, credit, 1)
    bad = post(debit, credit, 2, metadata={"n": 2**60})

    with pytest.raises(
        seals.LogIntegrityError, match=f"transfer {bad.id}: cannot be put in the log"
    ):
        seals.ledger_seal()

    assert LogEntry.objects.count() == 0
    assert LogQueue.objects.count() == 2


def test_seal_run_stops_after_max_batches_and_the_next_run_carries_on():
    some_transfers(11)
    seal = seals.ledger_seal(batch_size=3, max_batches=2)
    assert seal.tree_size == 6
    assert LogQueue.objects.count() == 5
    assert seals.ledger_seal(batch_size=3, max_batches=2).tree_size == 11


def test_seal_task_seals_only_when_the_log_grew():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    assert seal_ledger.apply().get() is None
    post(debit, credit, 10)
    assert seal_ledger.apply().get() == 1
    assert seal_ledger.apply().get() is None
    post(debit, credit, 11)
    post(debit, credit, 12)
    assert seal_ledger.apply().get() == 3
    assert list(Seal.objects.values_list("tree_size", flat=True)) == [1, 3]
    assert seal_ledger.acks_late is True
    assert seal_ledger.max_retries == 3


def test_seal_refuses_to_extend_a_seal_that_does_not_match_the_log():
    some_transfers(3)
    seals.ledger_seal()
    Seal.objects.update(root_hash=b"\x11" * 32)
    post(make_account("c", "EUR"), make_account("d", "EUR"), 5)

    with pytest.raises(seals.LogIntegrityError, match="seal size=3"):
        seals.ledger_seal()

    assert Seal.objects.count() == 1


def test_seal_refuses_to_extend_a_badly_signed_seal():
    some_transfers(3)
    seal = seals.ledger_seal()
    Seal.objects.filter(pk=seal.pk).update(signature=bytes(64))
    post(make_account("c", "EUR"), make_account("d", "EUR"), 5)

    with pytest.raises(seals.LogIntegrityError, match="seal size=3: bad signature"):
        seals.ledger_seal()

    assert Seal.objects.count() == 1


def test_seal_signature_fails_with_another_key_or_a_flipped_byte():
    some_transfers(2)
    seal = seals.ledger_seal()
    _, other_public = crypto.generate_signing_key()
    assert not seals.verify_seal_signature(seal, public_pem=other_public)
    assert seals.verify_seal_signature(seal, public_pem=crypto.platform_public_key_pem())
    flipped = bytearray(bytes(seal.signature))
    flipped[0] ^= 1
    seal.signature = bytes(flipped)
    assert not seals.verify_seal_signature(seal)


# --- Proofs -----------------------------------------------------------------------------------


def test_inclusion_proof_for_every_transfer_verifies_against_each_seal():
    transfers, accounts = some_transfers(9)
    first = seals.ledger_seal()
    more = [post(accounts["escrow"], accounts["seller"], 50 + n) for n in range(8)]
    second = seals.ledger_seal()

    for seal, covered in [(first, transfers), (second, transfers + more)]:
        for transfer in covered:
            proof = seals.inclusion_proof(transfer.id, seal)
            assert proof.tree_size == seal.tree_size
            assert proof.leaf_hash == transfer_leaf_hash(Transfer.objects.get(pk=transfer.pk))
            assert seals.verify_inclusion(proof, seal)
            assert not seals.verify_inclusion(proof, second if seal is first else first)
    with pytest.raises(seals.NotYetSealed):
        seals.inclusion_proof(more[0].id, first)


def test_wrong_inclusion_proofs_fail():
    transfers, _ = some_transfers(13)
    seal = seals.ledger_seal()
    proof = seals.inclusion_proof(transfers[6].id, seal)
    altered = [proof.audit_path[0][:-1] + b"\x00", *proof.audit_path[1:]]
    cases = [
        seals.InclusionProof(**{**proof.__dict__, "audit_path": altered}),
        seals.InclusionProof(**{**proof.__dict__, "audit_path": proof.audit_path[:-1]}),
        seals.InclusionProof(**{**proof.__dict__, "leaf_index": proof.leaf_index + 1}),
        seals.InclusionProof(**{**proof.__dict__, "leaf_hash": merkle.leaf_hash(b"forged")}),
    ]
    assert seals.verify_inclusion(proof, seal)
    for wrong in cases:
        assert not seals.verify_inclusion(wrong, seal)


def test_a_queued_transfer_has_no_proof_yet():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    post(debit, credit, 1)
    seal = seals.ledger_seal()
    waiting = post(debit, credit, 2)
    with pytest.raises(seals.NotYetSealed):
        seals.inclusion_proof(waiting.id, seal)
    assert seals.seal_for_transfer(waiting.id) is None
    with pytest.raises(seals.NotFound):
        seals.inclusion_proof(uuid.uuid4(), seal)


def test_consistency_proofs_between_every_pair_of_seals():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    made = []
    for size in (1, 2, 3, 5, 8, 13, 16, 17):
        while LogEntry.objects.count() + LogQueue.objects.count() < size:
            post(debit, credit, 7)
        made.append(seals.ledger_seal())
    for old in made:
        for new in made:
            if old.tree_size > new.tree_size:
                continue
            proof = seals.consistency_proof(old, new)
            assert seals.verify_consistency(old, new, proof), (old.tree_size, new.tree_size)
            if proof:
                assert not seals.verify_consistency(old, new, proof[:-1])
                assert not seals.verify_consistency(old, new, [b"\x00" * 32, *proof[1:]])


# --- Export for auditors ----------------------------------------------------------------------


def test_exported_inclusion_bundle_verifies_offline_with_only_the_public_key():
    transfers, _ = some_transfers(10)
    seal = seals.ledger_seal()
    bundle = json.loads(json.dumps(seals.export_inclusion(transfers[4].id)))

    result = merkle.verify_bundle(bundle, crypto.platform_public_key_pem())

    assert result["leaf_index"] == 4
    assert result["transfer"]["id"] == str(transfers[4].id)
    assert result["transfer"]["amount_minor"] == transfers[4].amount_minor
    assert result["tree_head"]["tree_size"] == seal.tree_size
    assert result["tree_head"]["root_hash"] == bytes(seal.root_hash).hex()


def test_tampered_bundles_fail_offline():
    transfers, _ = some_transfers(10)
    seals.ledger_seal()
    public = crypto.platform_public_key_pem()
    good = seals.export_inclusion(transfers[3].id)
    merkle.verify_bundle(good, public)

    leaf = json.loads(base64.b64decode(good["leaf"]))
    leaf["amount_minor"] += 1
    more_money = {**good, "leaf": base64.b64encode(json.dumps(leaf).encode()).decode()}
    wrong_path = {**good, "proof": [("00" * 32), *good["proof"][1:]]}
    short_path = {**good, "proof": good["proof"][:-1]}
    other_index = {**good, "leaf_index": good["leaf_index"] + 1}
    head = json.loads(base64.b64decode(good["seal"]["tree_head"]))
    head["tree_size"] += 1
    resized = {
        **good,
        "seal": {**good["seal"], "tree_head": base64.b64encode(json.dumps(head).encode()).decode()},
    }
    _, other_public = crypto.generate_signing_key()

    for bundle, message in [
        (more_money, "does not lead to the sealed root"),
        (wrong_path, "does not lead to the sealed root"),
        (short_path, "does not lead to the sealed root"),
        (other_index, "does not lead to the sealed root"),
        (resized, "signature does not verify"),
    ]:
        with pytest.raises(merkle.BundleInvalid, match=message):
            merkle.verify_bundle(bundle, public)
    with pytest.raises(merkle.BundleInvalid, match="signature does not verify"):
        merkle.verify_bundle(good, other_public)


def test_exported_consistency_bundle_verifies_offline():
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    for _ in range(5):
        post(debit, credit, 3)
    old = seals.ledger_seal()
    for _ in range(6):
        post(debit, credit, 4)
    new = seals.ledger_seal()
    public = crypto.platform_public_key_pem()

    bundle = seals.export_consistency(old, new)
    result = merkle.verify_bundle(json.dumps(bundle), public)

    assert result["old_tree_head"]["tree_size"] == 5
    assert result["new_tree_head"]["tree_size"] == 11
    swapped = {**bundle, "old_seal": bundle["new_seal"], "new_seal": bundle["old_seal"]}
    with pytest.raises(merkle.BundleInvalid, match="not an extension"):
        merkle.verify_bundle(swapped, public)


def test_export_refuses_a_transfer_changed_after_it_was_logged():
    transfers, _ = some_transfers(4)
    seals.ledger_seal()
    Transfer.objects.filter(pk=transfers[1].pk).update(amount_minor=999_999)
    with pytest.raises(seals.LogIntegrityError, match="leaf hash mismatch"):
        seals.export_inclusion(transfers[1].id)


# --- The subtree cache --------------------------------------------------------------------------


def test_cached_subtrees_give_the_same_seals_and_proofs_and_bad_entries_are_not_trusted(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(seals, "CACHE_MIN_SUBTREE", 4)
    cache.clear()
    debit, credit = make_account("a", "EUR"), make_account("b", "EUR")
    made = []
    for size in (5, 13, 29, 40):
        while LogEntry.objects.count() + LogQueue.objects.count() < size:
            post(debit, credit, 9)
        with django_capture_on_commit_callbacks(execute=True):
            made.append(seals.ledger_seal())
    hashes = stored_leaf_hashes()
    for seal in made:
        assert bytes(seal.root_hash) == merkle.root_from_leaf_hashes(hashes[: seal.tree_size])
    # LocMemCache keeps its entries in _cache, under ":<version>:<key>".
    keys = [key.split(":", 2)[-1] for key in cache._cache if "ledger:mth" in key]
    assert len(keys) >= 8, "complete subtrees were remembered"

    # A warm cache answers a proof from a handful of leaves instead of the whole log.
    read = []
    real_leaf_hashes = seals._LogTree.leaf_hashes

    def counting(self, start, end):
        for value in real_leaf_hashes(self, start, end):
            read.append(value)
            yield value

    monkeypatch.setattr(seals._LogTree, "leaf_hashes", counting)
    entry = LogEntry.objects.get(index=17)
    proof = seals.inclusion_proof(entry.transfer_id, made[-1])
    assert proof.audit_path == merkle.inclusion_proof(hashes, 17, 40)
    assert len(read) < 10

    # Poison every cached subtree: proofs and the next seal must still come out right.
    poisoned = {key: b"\x42" * 32 for key in keys}
    cache.set_many(poisoned)
    proof = seals.inclusion_proof(entry.transfer_id, made[-1])
    assert proof.audit_path == merkle.inclusion_proof(hashes, 17, 40)
    assert seals.consistency_proof(made[0], made[-1]) == merkle.consistency_proof(hashes, 5, 40)
    post(debit, credit, 9)
    with django_capture_on_commit_callbacks(execute=True):
        latest = seals.ledger_seal()
    assert bytes(latest.root_hash) == merkle.root_from_leaf_hashes(stored_leaf_hashes())


# --- Posting never waits for a seal -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_posting_does_not_wait_for_a_seal_in_progress(monkeypatch):
    _transfers, accounts = some_transfers(3)
    holding, posted = threading.Event(), threading.Event()
    outcome = {}
    real_sign = seals._sign

    def slow_sign(head):
        holding.set()
        # Hold the sealer's lock and its uncommitted log rows until the posting has committed.
        if not posted.wait(timeout=30):
            raise RuntimeError("the posting never finished")
        return real_sign(head)

    monkeypatch.setattr(seals, "_sign", slow_sign)

    def run_seal():
        try:
            outcome["seal"] = seals.ledger_seal()
        except BaseException as exc:  # reported to the test below
            outcome["error"] = exc
        finally:
            holding.set()
            connection.close()

    sealer = threading.Thread(target=run_seal)
    sealer.start()
    try:
        assert holding.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                # The seal's lock is held by the other connection right now...
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [seals.SEAL_LOCK_KEY])
                assert cursor.fetchone()[0] is False
                # ...and a posting that had to wait for it would fail here instead of hanging.
                cursor.execute("SET LOCAL lock_timeout = '5s'")
            new = post(accounts["escrow"], accounts["seller"], 4242)
        assert Transfer.objects.filter(pk=new.pk).exists()
    finally:
        posted.set()
        sealer.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["seal"].tree_size == 3
    assert LogQueue.objects.filter(transfer_id=new.pk).exists()

    monkeypatch.setattr(seals, "_sign", real_sign)
    assert seals.ledger_seal().tree_size == 4
    assert LogEntry.objects.get(transfer_id=new.pk).index == 3
