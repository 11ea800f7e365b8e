"""The platform's published signing keys: published on first use, kept after rotation with their
period closed, never used again once retired."""

import base64
import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from core import crypto, signing_keys
from core.models import PublishedSigningKey

pytestmark = pytest.mark.django_db

SEED_A = base64.b64encode(bytes(range(1, 33))).decode()
SEED_B = base64.b64encode(bytes(range(101, 133))).decode()


def use(settings, seed: str) -> str:
    settings.CLEARHOUSE_SIGNING_KEY = seed
    return crypto.platform_key_id()


def sign_now(at: dt.datetime | None = None) -> PublishedSigningKey:
    with transaction.atomic():
        return signing_keys.signing_key_for_signature(at=at)


def test_the_first_signature_publishes_the_key_from_the_time_it_names(settings):
    key_a = use(settings, SEED_A)
    earlier = timezone.now() - dt.timedelta(hours=1)

    row = sign_now(at=earlier)

    assert row.key_id == key_a
    assert row.valid_from == earlier
    assert row.valid_until is None
    assert row.public_pem == crypto.platform_public_key_pem()
    assert signing_keys.key_json(row) == {
        "key_id": key_a,
        "algorithm": "ed25519",
        "public_key_pem": crypto.platform_public_key_pem(),
        "valid_from": earlier.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "valid_until": None,
        "status": "current",
    }


def test_signing_again_with_the_same_key_changes_nothing(settings):
    use(settings, SEED_A)
    first = sign_now()
    again = sign_now(at=first.valid_from - dt.timedelta(days=1))

    assert again.valid_from == first.valid_from
    assert PublishedSigningKey.objects.count() == 1


def test_a_new_key_closes_the_old_period_and_both_stay_published(settings):
    key_a = use(settings, SEED_A)
    sign_now()
    key_b = use(settings, SEED_B)

    sign_now()

    old, new = signing_keys.published_keys()
    assert (old.key_id, new.key_id) == (key_a, key_b)
    assert old.valid_until is not None
    assert new.valid_from == old.valid_until
    assert new.valid_until is None
    assert [signing_keys.key_json(k)["status"] for k in (old, new)] == ["retired", "current"]


def test_a_retired_key_never_signs_again(settings):
    key_a = use(settings, SEED_A)
    sign_now()
    use(settings, SEED_B)
    sign_now()
    use(settings, SEED_A)

    with pytest.raises(signing_keys.RetiredSigningKey, match=f"{key_a} was retired"):
        sign_now()
    assert PublishedSigningKey.objects.get(valid_until__isnull=True).key_id != key_a
