"""Records in the log: another app's bytes sealed beside the transfers, with their own leaves."""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from core import crypto
from core.models import PublishedSigningKey
from ledger import merkle, seals
from ledger.canonical_record import record_leaf, record_leaf_hash
from ledger.canonical_transfer import transfer_canonical_bytes
from ledger.errors import InvalidRecord, RecordExists
from ledger.models import LogEntry, LogRecord, LogRecordQueue
from ledger.records import log_record_append
from ledger.verification import verify_ledger
from tests.ledger.seal_factories import some_transfers

pytestmark = pytest.mark.django_db


def append(payload: bytes = b'{"hello":"world"}', kind: str = "receipt") -> LogRecord:
    return log_record_append(record_id=uuid.uuid4(), kind=kind, payload=payload)


def test_a_record_leaf_is_prefixed_kind_nul_payload():
    assert record_leaf("receipt", b"abc") == b"clearhouse.ledger.record.v1\x00receipt\x00abc"
    assert record_leaf_hash("receipt", b"abc") == merkle.leaf_hash(
        b"clearhouse.ledger.record.v1\x00receipt\x00abc"
    )


def test_no_record_leaf_can_pass_for_a_transfer_leaf():
    transfers, _ = some_transfers(1)
    assert transfer_canonical_bytes(transfers[0]).startswith(b"{")
    assert not record_leaf("receipt", b"{").startswith(b"{")


def test_records_are_sealed_after_the_queued_transfers_and_proved_against_the_seal():
    transfers, _ = some_transfers(3)
    first, second = append(b"one"), append(b"two")

    seal = seals.ledger_seal()

    assert seal.tree_size == 5
    entries = list(LogEntry.objects.order_by("index").values_list("transfer_id", "record_id"))
    assert [t for t, _ in entries[:3]] == [t.id for t in transfers]
    assert [r for _, r in entries[3:]] == [first.id, second.id]
    assert not LogRecordQueue.objects.exists()
    proof = seals.record_inclusion_proof(second.id, seal)
    assert proof.leaf_index == 4
    assert proof.leaf_hash == record_leaf_hash("receipt", b"two")
    assert merkle.verify_inclusion(proof.leaf_hash, 4, 5, proof.audit_path, bytes(seal.root_hash))
    assert verify_ledger().ok


def test_a_queued_record_has_no_proof_until_a_seal_covers_it():
    some_transfers(2)
    seal = seals.ledger_seal()
    record = append()

    with pytest.raises(seals.NotYetSealed):
        seals.record_inclusion_proof(record.id, seal)
    assert seals.record_log_position(record.id) is None
    assert seals.first_seal_covering(2) is None

    later = seals.ledger_seal()
    assert seals.first_seal_covering(2) == later
    assert seals.first_seal_covering(0) == seal
    with pytest.raises(seals.NotYetSealed, match="after seal size=2"):
        seals.record_inclusion_proof(record.id, seal)
    assert seals.record_inclusion_proof(record.id, later).leaf_index == 2


def test_appending_the_same_record_again_is_a_no_op_and_other_bytes_are_refused():
    record_id = uuid.uuid4()
    first = log_record_append(record_id=record_id, kind="receipt", payload=b"x")
    again = log_record_append(record_id=record_id, kind="receipt", payload=b"x")

    assert again.pk == first.pk
    assert LogRecordQueue.objects.count() == 1
    with pytest.raises(RecordExists):
        log_record_append(record_id=record_id, kind="receipt", payload=b"y")
    with pytest.raises(RecordExists):
        log_record_append(record_id=record_id, kind="other", payload=b"x")
    assert LogRecord.objects.count() == 1


@pytest.mark.parametrize("kind", ["", "Receipt", "has space", "a\x00b", "x" * 65, 7])
def test_a_bad_kind_is_refused(kind):
    with pytest.raises(InvalidRecord):
        log_record_append(record_id=uuid.uuid4(), kind=kind, payload=b"x")
    assert not LogRecord.objects.exists()


def test_a_record_is_never_changed_nor_deleted():
    record = append(b"signed bytes")
    for statement in (
        "UPDATE ledger_logrecord SET payload = 'forged'::bytea",
        "DELETE FROM ledger_logrecordqueue; DELETE FROM ledger_logrecord",
    ):
        with (
            pytest.raises(DatabaseError, match="never changed nor deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    record.refresh_from_db()
    assert bytes(record.payload) == b"signed bytes"


def test_a_record_changed_behind_the_triggers_back_is_named_and_has_no_proof():
    some_transfers(2)
    record = append(b"the original")
    seal = seals.ledger_seal()
    with connection.cursor() as cursor:
        # What only a superuser could do: switch the triggers off and rewrite the bytes.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE ledger_logrecord SET payload = 'the forgery'::bytea WHERE id = %s", [record.id]
        )
        cursor.execute("SET session_replication_role = DEFAULT")

    report = verify_ledger()

    assert f"record {record.id}: leaf hash mismatch (changed after it was logged)" in (
        report.problems
    )
    with pytest.raises(seals.LogIntegrityError, match="leaf hash mismatch"):
        seals.record_inclusion_proof(record.id, seal)


def test_a_record_neither_logged_nor_queued_is_named():
    record = append()
    LogRecordQueue.objects.filter(record_id=record.id).delete()

    report = verify_ledger()

    assert f"record {record.id}: neither in the log nor queued for it" in report.problems


def test_sealing_publishes_the_signing_key():
    some_transfers(1)
    seal = seals.ledger_seal()

    published = PublishedSigningKey.objects.get()
    assert published.key_id == seal.key_id == crypto.platform_key_id()
    assert published.valid_from <= seal.sealed_at
    assert published.valid_until is None
