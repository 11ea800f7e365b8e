"""manage.py ledger_verify: a sound ledger passes; each kind of tampering fails, named."""

import hashlib
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from core import crypto
from ledger import seals
from ledger.models import Account, BalanceDelta, LogEntry, Seal, Transfer
from ledger.verification import verify_ledger
from tests.ledger.seal_factories import close, make_account, post, some_transfers

pytestmark = pytest.mark.django_db


def run_verify(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ledger_verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def raw(sql: str, params=()) -> None:
    """Plain SQL, as someone going around the ledger would write it (ids in the database's form)."""
    id_field = Transfer._meta.pk
    params = [
        id_field.get_db_prep_value(p, connection) if isinstance(p, uuid.UUID) else p for p in params
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def resign(seal: Seal) -> None:
    """Sign the seal's (changed) head again with the platform key, as a forger with the key would."""
    seal.key_id, signature = crypto.platform_sign(seals.seal_head_bytes(seal))
    seal.signature = signature
    seal.save()


@pytest.fixture
def ledger():
    """Three seals (12, 17, 21), two transfers still queued, a voided pending, a hot account."""
    transfers, accounts = some_transfers(12)
    seals.ledger_seal()
    hot = make_account("platform:fees", "EUR")
    for amount in (5, 6, 7, 8, 9):
        transfers.append(post(accounts["escrow"], hot, amount, credit_by_delta=True))
    seals.ledger_seal()
    pending = post(accounts["provider"], accounts["escrow"], 300, kind="pending")
    transfers += [pending, close(pending, void=True)]
    transfers += [
        post(accounts["escrow"], accounts["seller"], 40),
        post(accounts["seller"], hot, 1),
    ]
    seals.ledger_seal()
    transfers += [
        post(accounts["escrow"], accounts["seller"], 41),
        post(accounts["escrow"], hot, 2),
    ]
    assert list(Seal.objects.values_list("tree_size", flat=True)) == [12, 17, 21]
    accounts["hot"] = hot
    return transfers, accounts


def test_a_sound_ledger_passes(ledger):
    code, out, err = run_verify()
    assert (code, err) == (0, "")
    assert "23 transfers, 4 accounts, 21 log entries (2 queued), 3 seals" in out
    assert "ledger_verify: OK" in out
    report = verify_ledger()
    assert report.ok
    assert report.counts["balance_deltas"] == 5
    assert run_verify("--quiet") == (0, "", "")


def test_empty_ledger_passes():
    assert run_verify("--quiet") == (0, "", "")


def test_raw_sql_change_of_an_amount_is_caught_by_its_leaf_hash(ledger):
    transfers, _ = ledger
    victim = transfers[4]
    raw("UPDATE ledger_transfer SET amount_minor = amount_minor + 1 WHERE id = %s", [victim.id])

    code, _, err = run_verify()

    assert code == 1
    assert f"transfer {victim.id}: leaf hash mismatch (changed after it was logged)" in err


def test_raw_sql_change_is_still_caught_by_the_counters_when_leaves_are_skipped(ledger):
    transfers, _ = ledger
    victim = transfers[0]
    raw("UPDATE ledger_transfer SET amount_minor = amount_minor + 1 WHERE id = %s", [victim.id])

    code, _, err = run_verify("--skip-leaves")

    assert code == 1
    assert "leaf hash mismatch" not in err
    debit = Account.objects.get(pk=victim.debit_account_id)
    have = debit.debits_posted
    assert f"account {debit.code} EUR: debits_posted {have} != recomputed {have + 1}" in err


def test_a_counter_changed_behind_the_ledgers_back(ledger):
    raw(
        "UPDATE ledger_account SET credits_posted = credits_posted + 100 WHERE code = 'seller:1:pending'"
    )
    seller = Account.objects.get(code="seller:1:pending")

    code, _, err = run_verify()

    assert code == 1
    expected = seller.credits_posted - 100
    assert (
        f"account seller:1:pending EUR: credits_posted {seller.credits_posted} != recomputed {expected}"
        in err
    )
    assert "trial balance EUR: debits_posted" in err


def test_a_delta_row_without_a_transfer(ledger):
    _, accounts = ledger
    before = verify_ledger()
    BalanceDelta.objects.create(account=accounts["hot"], credits_posted=50)

    code, _, err = run_verify()

    assert before.ok
    assert code == 1
    assert "account platform:fees EUR: credits_posted" in err


def test_a_counter_of_a_transfer_still_queued_is_checked_too(ledger):
    transfers, _ = ledger
    queued = transfers[-2]
    assert not LogEntry.objects.filter(transfer_id=queued.id).exists()
    raw("UPDATE ledger_transfer SET amount_minor = 4100 WHERE id = %s", [queued.id])

    code, _, err = run_verify()

    assert code == 1
    assert "debits_posted" in err and "recomputed" in err
    assert "leaf hash mismatch" not in err


def test_a_pending_posted_over_its_amount(ledger):
    _, accounts = ledger
    pending = post(accounts["provider"], accounts["escrow"], 100, kind="pending")
    posting = close(pending, amount_minor=100)
    raw("UPDATE ledger_transfer SET amount_minor = 150 WHERE id = %s", [posting.id])

    code, _, err = run_verify()

    assert code == 1
    assert f"transfer {posting.id}: posts 150 over its pending transfer {pending.id} of 100" in err


def test_a_close_that_targets_a_transfer_that_is_not_pending(ledger):
    transfers, accounts = ledger
    pending = post(accounts["provider"], accounts["escrow"], 100, kind="pending")
    voiding = close(pending, void=True)
    posted = transfers[0]
    assert posted.kind == "posted"
    raw("UPDATE ledger_transfer SET pending_id = %s WHERE id = %s", [posted.id, voiding.id])

    code, _, err = run_verify()

    assert code == 1
    assert (
        f"transfer {voiding.id}: void_pending targets transfer {posted.id} of kind posted, "
        "not a pending transfer"
    ) in err


def test_a_log_entry_removed_from_the_middle(ledger):
    entry = LogEntry.objects.get(index=5)
    raw("DELETE FROM ledger_logentry WHERE " + connection.ops.quote_name("index") + " = 5")

    code, _, err = run_verify()

    assert code == 1
    assert "log index 5 is missing (the next entry has index 6)" in err
    assert f"transfer {entry.transfer_id}: neither in the log nor queued for it" in err
    assert "seal size=12: root_hash does not match the log" in err


def test_a_log_entry_moved_far_away_is_named_and_the_pass_still_ends(ledger):
    # The log is read in index ranges; a gap of 10**12 must not mean 10**12 / chunk reads.
    index = connection.ops.quote_name("index")
    raw(f"UPDATE ledger_logentry SET {index} = 1000000000000 WHERE {index} = 20")

    code, _, err = run_verify("--chunk-size", "4")

    assert code == 1
    assert "log index 20 is missing (the next entry has index 1000000000000)" in err


def test_a_rewritten_leaf_hash_breaks_the_seals_and_its_proofs(ledger):
    entry = LogEntry.objects.get(index=3)
    LogEntry.objects.filter(index=3).update(leaf_hash=hashlib.sha256(b"forged").digest())

    code, _, err = run_verify()

    assert code == 1
    assert f"transfer {entry.transfer_id}: leaf hash mismatch (changed after it was logged)" in err
    for size in (12, 17, 21):
        assert f"seal size={size}: root_hash does not match the log" in err
    # A proof built from the rewritten log cannot verify against the signed root.
    with pytest.raises(seals.LogIntegrityError):
        seals.inclusion_proof(entry.transfer_id, Seal.objects.get(tree_size=12))


def test_reordered_seals_with_swapped_roots(ledger):
    middle, last = Seal.objects.get(tree_size=17), Seal.objects.get(tree_size=21)
    middle.root_hash, last.root_hash = bytes(last.root_hash), bytes(middle.root_hash)
    resign(middle)
    resign(last)

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=17: root_hash does not match the log" in err
    assert "seal size=21: root_hash does not match the log" in err
    assert "seal size=21: previous_hash does not chain to seal size=17" in err
    assert "bad signature" not in err


def test_reordered_seals_with_swapped_previous_links(ledger):
    _first, middle, last = Seal.objects.order_by("tree_size")
    middle.previous_hash, last.previous_hash = (
        bytes(last.previous_hash),
        bytes(middle.previous_hash),
    )
    resign(middle)
    resign(last)

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=17: previous_hash does not chain to seal size=12" in err
    assert "seal size=21: previous_hash does not chain to seal size=17" in err
    assert "root_hash does not match" not in err


def test_a_forked_chain(ledger):
    # A second, validly signed head for size 17 (another time): seal 21 chains to the first one.
    middle = Seal.objects.get(tree_size=17)
    middle.sealed_at = middle.sealed_at.replace(
        microsecond=(middle.sealed_at.microsecond + 1) % 10**6
    )
    resign(middle)

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=21: previous_hash does not chain to seal size=17" in err
    assert "seal size=17" not in err.replace("chain to seal size=17", "")


def test_a_seal_signed_by_another_key(ledger):
    private, _ = crypto.generate_signing_key()
    middle = Seal.objects.get(tree_size=17)
    middle.signature = crypto.sign(private, seals.seal_head_bytes(middle), algorithm="ed25519")
    middle.save()

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=17: bad signature" in err


def test_a_seal_naming_an_unknown_key(ledger):
    Seal.objects.filter(tree_size=12).update(key_id="someone-else")

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=12: bad signature (unknown key id someone-else)" in err


def test_a_seal_with_a_flipped_byte(ledger):
    last = Seal.objects.get(tree_size=21)
    signature = bytearray(bytes(last.signature))
    signature[10] ^= 0x40
    Seal.objects.filter(pk=last.pk).update(signature=bytes(signature))

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=21: bad signature" in err


def test_a_seal_larger_than_the_log(ledger):
    last = Seal.objects.get(tree_size=21)
    Seal.objects.create(
        tree_size=40,
        root_hash=bytes(32),
        sealed_at=last.sealed_at,
        previous_hash=seals.seal_head_hash(last),
        key_id="x",
        signature=b"",
    )

    code, _, err = run_verify()

    assert code == 1
    assert "seal size=40: larger than the log (21 entries), root not checked" in err


def test_problems_are_capped_per_kind(ledger):
    raw("UPDATE ledger_transfer SET reason = 'rewritten'")

    report = verify_ledger(max_problems_per_check=3)

    assert report.problem_count == 21
    leaf_lines = [p for p in report.problems if "leaf hash mismatch" in p]
    assert len(leaf_lines) == 3
    assert "leaf: more problems of this kind not shown" in report.problems


def test_verify_reads_the_log_in_chunks(ledger, django_assert_max_num_queries):
    # With a chunk of 4 the 21 entries take 6 reads: memory is bounded by the chunk, not the log.
    report = verify_ledger(chunk_size=4)
    assert report.ok
    assert report.counts["log_entries"] == 21


def test_postings_through_the_ledger_services_seal_and_verify():
    """The real posting (the PL/pgSQL function, one transfer and batches) against the sealer."""
    from ledger.services import (
        TransferRequest,
        create_transfer,
        create_transfers,
        get_or_create_account,
        ledger_fold_deltas,
    )

    def request(debit, credit, amount, **fields):
        return TransferRequest(
            id=uuid.uuid4(),
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount_minor=amount,
            currency="EUR",
            reason=fields.pop("reason", "test"),
            **fields,
        )

    provider = get_or_create_account(currency="EUR", code="external:test")
    escrow = get_or_create_account(currency="EUR", code="platform:escrow")
    fees = get_or_create_account(currency="EUR", code="platform:fees")
    seller = get_or_create_account(
        currency="EUR", code="seller:1:available", debits_must_not_exceed_credits=True
    )
    capture = create_transfer(
        request(provider, escrow, 1_000, kind="pending", timeout_s=3600, metadata={"order": 12})
    )
    create_transfer(request(provider, escrow, None, kind="post_pending", pending_id=capture.id))
    create_transfers([request(escrow, seller, 900), request(escrow, fees, 100)])
    held = create_transfer(request(provider, escrow, 500, kind="pending"))
    create_transfer(request(provider, escrow, None, kind="void_pending", pending_id=held.id))
    create_transfer(request(seller, escrow, 250, reference="refund:1"))

    assert run_verify("--quiet") == (0, "", "")
    first = seals.ledger_seal()
    assert first.tree_size == 7
    assert run_verify("--quiet") == (0, "", "")
    ledger_fold_deltas()
    assert run_verify("--quiet") == (0, "", "")
    assert seals.ledger_seal() is None
    for transfer in Transfer.objects.all():
        assert seals.verify_inclusion(seals.inclusion_proof(transfer.id, first), first)

    create_transfer(request(escrow, seller, 10))
    second = seals.ledger_seal()
    assert seals.verify_consistency(first, second, seals.consistency_proof(first, second))
    raw("UPDATE ledger_transfer SET amount_minor = 901 WHERE amount_minor = 900")
    code, _, err = run_verify()
    assert code == 1
    assert "leaf hash mismatch (changed after it was logged)" in err


def test_verify_with_a_published_public_key(ledger):
    assert verify_ledger(public_pem=crypto.platform_public_key_pem()).ok
    _, other_public = crypto.generate_signing_key()
    report = verify_ledger(public_pem=other_public)
    assert [p for p in report.problems if "bad signature" in p] == [
        "seal size=12: bad signature",
        "seal size=17: bad signature",
        "seal size=21: bad signature",
    ]


@pytest.mark.django_db(transaction=True)
def test_verify_reads_one_snapshot(monkeypatch):
    """A posting committed while verify runs is not half seen."""
    from ledger import verification

    _transfers, accounts = some_transfers(5)
    seals.ledger_seal()
    real_check = verification._check_trial_balance
    seen = {}

    def post_in_between(problems):
        real_check(problems)
        # Another connection posts and seals while this verify is between two checks.
        import threading

        def elsewhere():
            try:
                post(accounts["escrow"], accounts["seller"], 77)
                seen["seal"] = seals.ledger_seal().tree_size
            finally:
                connection.close()

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(timeout=60)

    monkeypatch.setattr(verification, "_check_trial_balance", post_in_between)
    report = verify_ledger()

    assert seen["seal"] == 6
    assert report.ok, report.problems
    assert report.counts["transfers"] == 5
    assert report.counts["log_entries"] == 5
    assert report.counts["seals"] == 1
