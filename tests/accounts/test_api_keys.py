import hashlib
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from tests.accounts.factories import BuyerFactory, make_api_key

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/api-keys/"  # any endpoint that needs authentication
KEY_FORMAT = re.compile(r"ch_live_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}")


def _bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


# --- Pages -------------------------------------------------------------------------------------


def test_create_on_the_page_shows_the_key_once_and_stores_only_its_hash(buyer_client, buyer):
    response = buyer_client.post(reverse("accounts:api_key_create"), {"name": "shop backend"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    full_key = unescape(
        re.search(r'id="api-key"[^>]*value="([^"]+)"', response.content.decode()).group(1)
    )
    assert KEY_FORMAT.fullmatch(full_key)
    row = ApiKey.objects.get()
    assert row.owner == buyer
    assert row.name == "shop backend"
    assert full_key.startswith(row.prefix + "_")
    assert row.secret_hash == hashlib.sha256(full_key.encode()).hexdigest()
    secret = full_key.rsplit("_", 1)[1]
    stored_text = " ".join(str(getattr(row, f.attname)) for f in ApiKey._meta.concrete_fields)
    assert secret not in stored_text
    listing = buyer_client.get(reverse("accounts:api_keys")).content.decode()
    assert row.prefix in listing
    assert secret not in listing


def test_create_without_a_name_is_a_field_error(buyer_client):
    response = buyer_client.post(reverse("accounts:api_key_create"), {"name": "  "})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert ApiKey.objects.count() == 0


def test_revoke_on_the_page(buyer_client, buyer):
    row, _key = make_api_key(buyer)
    assert buyer_client.get(reverse("accounts:api_key_revoke", args=[row.id])).status_code == 200
    response = buyer_client.post(reverse("accounts:api_key_revoke", args=[row.id]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_another_owners_key_page_is_404(buyer_client):
    row, _key = make_api_key(BuyerFactory())
    assert buyer_client.post(reverse("accounts:api_key_revoke", args=[row.id])).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


# --- Authentication ----------------------------------------------------------------------------


def test_valid_key_authenticates_as_its_owner(client, buyer):
    row, full_key = make_api_key(buyer)
    other_row, _ = make_api_key(BuyerFactory())

    response = client.get(ENDPOINT, **_bearer(full_key))

    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["results"]]
    assert ids == [str(row.id)]  # scoped to the owner: not the other owner's key
    assert str(other_row.id) not in ids
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(client, buyer):
    row, full_key = make_api_key(buyer)
    client.get(ENDPOINT, **_bearer(full_key))
    row.refresh_from_db()
    first = row.last_used_at
    client.get(ENDPOINT, **_bearer(full_key))
    row.refresh_from_db()
    assert row.last_used_at == first
    ApiKey.objects.filter(pk=row.pk).update(last_used_at=first - timezone.timedelta(minutes=2))
    client.get(ENDPOINT, **_bearer(full_key))
    row.refresh_from_db()
    assert row.last_used_at > first


def test_revoked_key_is_401_with_a_clear_message(client, buyer):
    row, full_key = make_api_key(buyer)
    api_key_revoke(api_key=row)

    response = client.get(ENDPOINT, **_bearer(full_key))

    assert response.status_code == 401
    assert "revoked" in response.content.decode()
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "key",
    [
        "ch_live_AAAAAAAA_" + "A" * 40,  # well formed, unknown
        "nonsense",
        "ch_live_short",
        "",
    ],
)
def test_unknown_or_malformed_key_is_401(client, buyer, key):
    make_api_key(buyer)
    response = client.get(ENDPOINT, HTTP_AUTHORIZATION=f"Bearer {key}".strip())
    assert response.status_code == 401
    assert "API key" in response.content.decode() or "Authorization" in response.content.decode()


def test_right_prefix_wrong_secret_is_401(client, buyer):
    row, full_key = make_api_key(buyer)
    forged = f"{row.prefix}_{'x' * 40}"
    assert forged != full_key
    response = client.get(ENDPOINT, **_bearer(forged))
    assert response.status_code == 401


def test_no_credentials_is_401(client):
    assert client.get(ENDPOINT).status_code == 401


def test_key_of_a_disabled_account_is_401(client, buyer):
    _row, full_key = make_api_key(buyer)
    buyer.is_active = False
    buyer.save()
    assert client.get(ENDPOINT, **_bearer(full_key)).status_code == 401


# --- API ---------------------------------------------------------------------------------------


def test_api_create_returns_the_key_once(client, buyer):
    _row, full_key = make_api_key(buyer)
    response = client.post(
        ENDPOINT, {"name": "ci"}, content_type="application/json", **_bearer(full_key)
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    new_key = response.json()["key"]
    assert KEY_FORMAT.fullmatch(new_key)
    detail = client.get(f"{ENDPOINT}{response.json()['id']}/", **_bearer(full_key)).json()
    assert "key" not in detail
    assert client.get(ENDPOINT, **_bearer(new_key)).status_code == 200


def test_api_create_without_name_is_400(client, buyer):
    _row, full_key = make_api_key(buyer)
    response = client.post(ENDPOINT, {}, content_type="application/json", **_bearer(full_key))
    assert response.status_code == 400
    assert ApiKey.objects.count() == 1


def test_api_revoke_own_key_then_it_no_longer_works(client, buyer):
    row, full_key = make_api_key(buyer)
    response = client.post(f"{ENDPOINT}{row.id}/revoke/", **_bearer(full_key))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert client.get(ENDPOINT, **_bearer(full_key)).status_code == 401


def test_api_another_owners_key_object_is_404(client, buyer):
    _row, full_key = make_api_key(buyer)
    other_row, _ = make_api_key(BuyerFactory())
    assert client.get(f"{ENDPOINT}{other_row.id}/", **_bearer(full_key)).status_code == 404
    assert client.post(f"{ENDPOINT}{other_row.id}/revoke/", **_bearer(full_key)).status_code == 404
    other_row.refresh_from_db()
    assert other_row.revoked_at is None


def test_api_staff_sees_all_keys(client, staff, buyer):
    make_api_key(buyer)
    _row, staff_key = make_api_key(staff)
    listed = client.get(ENDPOINT, **_bearer(staff_key)).json()["results"]
    assert len(listed) == 2


def test_session_api_writes_need_csrf(buyer):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(buyer)
    response = csrf_client.post(ENDPOINT, {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert ApiKey.objects.count() == 0


def test_api_key_created_with_an_idempotency_key_is_never_kept_for_replay(buyer_client):
    from core.models import IdempotencyKey

    headers = {"HTTP_IDEMPOTENCY_KEY": "create-key-1"}
    first = buyer_client.post(
        "/api/v1/api-keys/", {"name": "ci"}, content_type="application/json", **headers
    )
    assert first.status_code == 201
    full_key = first.json()["key"]
    stored = b"".join(bytes(row.response_body) for row in IdempotencyKey.objects.all())
    assert full_key.encode() not in stored
    assert full_key.rsplit("_", 1)[1].encode() not in stored

    again = buyer_client.post(
        "/api/v1/api-keys/", {"name": "ci"}, content_type="application/json", **headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotent_replay_withheld"
    assert ApiKey.objects.count() == 1  # the retry made no second key
