"""The card vault: round trip, tamper refusal, key rotation, deletion."""

import base64
import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.vault.cards import validate_card
from payments.vault.models import VaultedCard
from payments.vault.services import (
    TOKEN_PREFIX,
    VaultError,
    vault_delete_card,
    vault_detokenize,
    vault_rotate_keys,
    vault_store_card,
)

pytestmark = pytest.mark.django_db

OLD_RING = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
NEW_KEY = "test2:" + base64.b64encode(bytes(range(100, 132))).decode()


def card(number="4242424242424242", holder="Ada Lovelace"):
    return validate_card(
        number=number,
        exp_month=12,
        exp_year=2030,
        cvc="947",
        holder=holder,
        today=dt.date(2026, 1, 1),
    )


def test_round_trip_and_only_safe_fields_in_clear(buyer):
    stored = vault_store_card(card=card(), owner=buyer)
    assert stored.token.startswith(TOKEN_PREFIX) and len(stored.token) > 30
    assert (stored.brand, stored.last4, stored.exp_month, stored.exp_year) == (
        "visa",
        "4242",
        12,
        2030,
    )
    row = VaultedCard.objects.get(pk=stored.pk)
    assert b"4242424242424242" not in bytes(row.ciphertext)
    assert b"Ada" not in bytes(row.ciphertext)
    assert row.key_id == "test1"
    opened = vault_detokenize(token=stored.token)
    assert (opened.number, opened.holder) == ("4242424242424242", "Ada Lovelace")
    assert "4242424242424242" not in repr(opened)


def test_each_card_has_its_own_data_key(buyer):
    first, second = vault_store_card(card=card()), vault_store_card(card=card())
    assert bytes(first.wrapped_key) != bytes(second.wrapped_key)
    assert bytes(first.ciphertext) != bytes(second.ciphertext)
    assert first.token != second.token


def test_tampered_ciphertext_is_refused():
    stored = vault_store_card(card=card())
    blob = bytearray(bytes(stored.ciphertext))
    blob[len(blob) // 2] ^= 0x01
    VaultedCard.objects.filter(pk=stored.pk).update(ciphertext=bytes(blob))
    with pytest.raises(VaultError) as caught:
        vault_detokenize(token=stored.token)
    assert caught.value.code == "vault_decrypt_failed"


def test_tampered_wrapped_key_is_refused():
    stored = vault_store_card(card=card())
    blob = bytearray(bytes(stored.wrapped_key))
    blob[-1] ^= 0x80
    VaultedCard.objects.filter(pk=stored.pk).update(wrapped_key=bytes(blob))
    with pytest.raises(VaultError):
        vault_detokenize(token=stored.token)


def test_ciphertext_moved_to_another_record_is_refused():
    # The record id is the associated data: a blob copied onto another row does not open there.
    victim, attacker = (
        vault_store_card(card=card()),
        vault_store_card(card=card("5555555555554444")),
    )
    VaultedCard.objects.filter(pk=attacker.pk).update(
        ciphertext=bytes(victim.ciphertext), wrapped_key=bytes(victim.wrapped_key)
    )
    with pytest.raises(VaultError):
        vault_detokenize(token=attacker.token)
    assert vault_detokenize(token=victim.token).number == "4242424242424242"


def test_rotation_rewraps_under_newest_key_and_old_records_stay_readable(settings):
    settings.CLEARHOUSE_MASTER_KEYS = OLD_RING
    old_cards = [vault_store_card(card=card()) for _ in range(3)]
    old_ciphertexts = {c.pk: bytes(c.ciphertext) for c in old_cards}

    # A new master key goes in front; the old one stays so existing cards remain readable.
    settings.CLEARHOUSE_MASTER_KEYS = f"{NEW_KEY},{OLD_RING}"
    assert vault_detokenize(token=old_cards[0].token).number == "4242424242424242"
    new_card = vault_store_card(card=card("5555555555554444"))
    assert new_card.key_id == "test2"

    report = vault_rotate_keys(batch_size=2)  # two batches
    assert (report.rotated, report.already_current, report.failed) == (3, 1, 0)
    for row in VaultedCard.objects.all():
        assert row.key_id == "test2"
        assert bytes(row.ciphertext) == old_ciphertexts.get(row.pk, bytes(row.ciphertext))

    # With the old key gone from the ring every card still opens: all are under the new key.
    settings.CLEARHOUSE_MASTER_KEYS = NEW_KEY
    assert [vault_detokenize(token=c.token).number for c in old_cards] == ["4242424242424242"] * 3

    again = vault_rotate_keys()
    assert (again.rotated, again.already_current, again.failed) == (0, 4, 0)


def test_rotate_keys_command_reports_counts_and_fails_on_unknown_key(settings):
    settings.CLEARHOUSE_MASTER_KEYS = OLD_RING
    stored = vault_store_card(card=card())
    settings.CLEARHOUSE_MASTER_KEYS = f"{NEW_KEY},{OLD_RING}"
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert "1 re-wrapped, 0 already current, 0 failed" in out.getvalue()

    # A card under a key that left the ring cannot be re-wrapped: reported, command fails.
    VaultedCard.objects.filter(pk=stored.pk).update(key_id="gone")
    with pytest.raises(CommandError, match=stored.token):
        call_command("rotate_keys", stdout=StringIO())
    assert VaultedCard.objects.get(pk=stored.pk).key_id == "gone"


def test_delete_erases_the_card(buyer, other_buyer):
    stored = vault_store_card(card=card(), owner=buyer)
    with pytest.raises(Exception, match="No such card"):
        vault_delete_card(token=stored.token, owner=other_buyer)
    vault_delete_card(token=stored.token, owner=buyer)
    row = VaultedCard.objects.get(pk=stored.pk)
    assert bytes(row.ciphertext) == b"" and bytes(row.wrapped_key) == b""
    assert row.deleted_at is not None and row.last4 == "4242"
    with pytest.raises(VaultError):
        vault_detokenize(token=stored.token)
