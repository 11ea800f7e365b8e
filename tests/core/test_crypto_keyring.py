import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import crypto

from .conftest import flip_bit

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
B64_A = base64.b64encode(KEY_A).decode()
B64_B = base64.b64encode(KEY_B).decode()


@pytest.fixture
def ring_a(settings):
    settings.CLEARHOUSE_MASTER_KEYS = f"a1:{B64_A}"
    return settings


def test_ring_lists_ids_newest_first_and_returns_keys(settings):
    settings.CLEARHOUSE_MASTER_KEYS = f"b2:{B64_B},a1:{B64_A}"

    ring = crypto.get_key_ring()

    assert ring.ids == ("b2", "a1")
    assert ring.newest_id == "b2"
    assert ring.key("a1") == KEY_A
    assert ring.key("b2") == KEY_B


def test_ring_tolerates_spaces_around_entries(settings):
    settings.CLEARHOUSE_MASTER_KEYS = f" b2 : {B64_B} , a1:{B64_A} "
    assert crypto.get_key_ring().ids == ("b2", "a1")


def test_ring_repr_shows_no_key_material(settings):
    settings.CLEARHOUSE_MASTER_KEYS = f"a1:{B64_A}"
    text = repr(crypto.get_key_ring())
    assert "a1" in text
    assert B64_A not in text
    assert repr(KEY_A) not in text


def test_unknown_key_id_is_refused(ring_a):
    with pytest.raises(crypto.CryptoError, match="unknown master key id"):
        crypto.get_key_ring().key("nope")


def test_the_test_settings_ring_is_usable():
    # config.settings.test ships a fixed ring with "test1" in front.
    assert crypto.get_key_ring().newest_id == "test1"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "must be 'id:base64key"),
        ("   ", "must be 'id:base64key"),
        (f"a1:{B64_A},,b2:{B64_B}", "no empty entries"),
        (f"a1:{B64_A},", "no empty entries"),
        (B64_A, "must start with an id"),
        (f":{B64_A}", "must start with an id"),
        (f"bad id:{B64_A}", "must start with an id"),
        (f"{'x' * 33}:{B64_A}", "must start with an id"),
        ("a1:not*base64", "not valid base64"),
        ("a1:" + base64.b64encode(bytes(16)).decode(), "is 16 bytes; each key must be 32"),
        ("a1:", "is 0 bytes"),
        (f"a1:{B64_A},a1:{B64_B}", "names key id 'a1' twice"),
    ],
)
def test_malformed_configuration_is_improperly_configured(settings, config, message):
    settings.CLEARHOUSE_MASTER_KEYS = config
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.get_key_ring()


def test_non_string_configuration_is_improperly_configured(settings):
    settings.CLEARHOUSE_MASTER_KEYS = None
    with pytest.raises(ImproperlyConfigured):
        crypto.get_key_ring()


def test_wrap_uses_the_newest_key_and_unwraps(ring_a):
    data_key = crypto.new_data_key()

    key_id, wrapped = crypto.wrap_data_key(data_key, associated_data=b"vault.card:1")

    assert key_id == "a1"
    assert data_key not in wrapped
    assert crypto.unwrap_data_key(key_id, wrapped, associated_data=b"vault.card:1") == data_key


def test_wrapped_key_is_bound_to_its_record(ring_a):
    key_id, wrapped = crypto.wrap_data_key(crypto.new_data_key(), associated_data=b"vault.card:1")
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key(key_id, wrapped, associated_data=b"vault.card:2")


@pytest.mark.parametrize("index", [0, 1, 20, -1])
def test_tampered_wrapped_key_is_refused(ring_a, index):
    key_id, wrapped = crypto.wrap_data_key(crypto.new_data_key(), associated_data=b"r")
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key(key_id, flip_bit(wrapped, index), associated_data=b"r")


def test_unknown_key_id_cannot_unwrap(ring_a):
    _, wrapped = crypto.wrap_data_key(crypto.new_data_key(), associated_data=b"r")
    with pytest.raises(crypto.CryptoError, match="unknown master key id"):
        crypto.unwrap_data_key("zz9", wrapped, associated_data=b"r")


def test_key_id_is_bound_into_the_wrapping(settings):
    # Two ids for the same key bytes: the id recorded with the wrapped key must be the one used.
    settings.CLEARHOUSE_MASTER_KEYS = f"b2:{B64_A},a1:{B64_A}"
    key_id, wrapped = crypto.wrap_data_key(crypto.new_data_key(), associated_data=b"r")
    assert key_id == "b2"
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key("a1", wrapped, associated_data=b"r")


def test_rotation_keeps_old_wrapped_keys_readable_and_rewraps_to_the_newest(settings):
    settings.CLEARHOUSE_MASTER_KEYS = f"a1:{B64_A}"
    data_key = crypto.new_data_key()
    old_id, old_wrapped = crypto.wrap_data_key(data_key, associated_data=b"r")

    # Rotate: the new key goes in front, the old one stays.
    settings.CLEARHOUSE_MASTER_KEYS = f"b2:{B64_B},a1:{B64_A}"

    assert old_id == "a1"
    assert crypto.unwrap_data_key(old_id, old_wrapped, associated_data=b"r") == data_key
    new_id, new_wrapped = crypto.rewrap_data_key(old_id, old_wrapped, associated_data=b"r")
    assert new_id == "b2"
    assert crypto.unwrap_data_key(new_id, new_wrapped, associated_data=b"r") == data_key
    assert crypto.wrap_data_key(data_key, associated_data=b"r")[0] == "b2"

    # Once every key is re-wrapped the old master key can go.
    settings.CLEARHOUSE_MASTER_KEYS = f"b2:{B64_B}"
    assert crypto.unwrap_data_key(new_id, new_wrapped, associated_data=b"r") == data_key
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key(old_id, old_wrapped, associated_data=b"r")


@pytest.mark.parametrize("data_key", [b"", bytes(16), bytes(31), bytes(33), "x" * 32])
def test_only_32_byte_data_keys_are_wrapped(ring_a, data_key):
    with pytest.raises(crypto.CryptoError):
        crypto.wrap_data_key(data_key, associated_data=b"r")


def test_non_bytes_associated_data_is_refused(ring_a):
    with pytest.raises(crypto.CryptoError):
        crypto.wrap_data_key(crypto.new_data_key(), associated_data="r")
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key("a1", b"x" * 61, associated_data="r")
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_data_key(None, b"x" * 61, associated_data=b"r")
