import re
from html import unescape

import pytest
from django.urls import reverse

from accounts.models import DemoKeyMaterial, SellerKey
from core import crypto
from tests.accounts.factories import make_seller_key
from tests.accounts.pem_fixtures import (
    EC_P256_PUBLIC_PEM,
    MALFORMED_PEM,
    RSA_1024_PUBLIC_PEM,
    TRUNCATED_PEM,
)

pytestmark = pytest.mark.django_db

KEYS = reverse("accounts:seller_keys")
UPLOAD = reverse("accounts:seller_key_upload")
GENERATE = reverse("accounts:seller_key_generate")


@pytest.fixture(scope="module")
def ed25519_pair():
    return crypto.generate_signing_key("ed25519")


@pytest.fixture(scope="module")
def encryption_pair():
    return crypto.generate_encryption_key()


def _private_pem_from(html: str) -> str:
    match = re.search(r'<textarea id="private-pem"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, "the private key is shown on the page"
    return unescape(match.group(1))


# --- Upload ------------------------------------------------------------------------------------


def test_keys_page_lists_forms_with_labels_and_csrf(seller_client):
    response = seller_client.get(KEYS)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('name="csrfmiddlewaretoken"') >= 3  # generate, upload, log out
    assert '<label for="id_public_pem">' in html


def test_upload_a_signing_key(seller_client, seller, ed25519_pair):
    _private, public = ed25519_pair
    response = seller_client.post(
        UPLOAD, {"purpose": "signing", "public_pem": public, "label": "laptop"}
    )
    assert response.status_code == 302
    key = SellerKey.objects.get()
    expected = crypto.inspect_public_key(public, purpose="signing")
    assert (key.seller, key.purpose, key.algorithm, key.origin) == (
        seller,
        "signing",
        "ed25519",
        "uploaded",
    )
    assert key.fingerprint == expected.fingerprint
    assert key.label == "laptop"
    listing = seller_client.get(KEYS).content.decode()
    assert str(key.id) in listing


@pytest.mark.parametrize(
    ("purpose", "pem", "message_part"),
    [
        ("signing", MALFORMED_PEM, "Not usable as a signing key"),
        ("signing", TRUNCATED_PEM, "Not usable as a signing key"),
        ("signing", "hello", "Not usable as a signing key"),
        ("signing", EC_P256_PUBLIC_PEM, "only Ed25519 and RSA are accepted"),
        ("encryption", EC_P256_PUBLIC_PEM, "only Ed25519 and RSA are accepted"),
        ("signing", RSA_1024_PUBLIC_PEM, "at least RSA-2048"),
        ("encryption", RSA_1024_PUBLIC_PEM, "at least RSA-2048"),
        ("signing", "", "This field is required"),
    ],
)
def test_bad_uploads_are_field_errors_and_store_nothing(seller_client, purpose, pem, message_part):
    response = seller_client.post(UPLOAD, {"purpose": purpose, "public_pem": pem})
    assert response.status_code == 400
    errors = response.context["upload_form"].errors["public_pem"]
    assert message_part in " ".join(errors)
    assert 'id="id_public_pem_error"' in response.content.decode()
    assert SellerKey.objects.count() == 0


def test_ed25519_key_cannot_be_an_encryption_key(seller_client, ed25519_pair):
    response = seller_client.post(UPLOAD, {"purpose": "encryption", "public_pem": ed25519_pair[1]})
    assert response.status_code == 400
    assert "encryption key must be RSA" in response.context["upload_form"].errors["public_pem"][0]
    assert SellerKey.objects.count() == 0


def test_a_pasted_private_key_is_refused_and_not_parsed(seller_client, ed25519_pair):
    response = seller_client.post(UPLOAD, {"purpose": "signing", "public_pem": ed25519_pair[0]})
    assert response.status_code == 400
    assert "PRIVATE key" in response.context["upload_form"].errors["public_pem"][0]
    assert SellerKey.objects.count() == 0


def test_the_same_key_cannot_be_registered_twice_even_after_revocation(
    seller_client, seller, ed25519_pair
):
    public = ed25519_pair[1]
    assert (
        seller_client.post(UPLOAD, {"purpose": "signing", "public_pem": public}).status_code == 302
    )
    key = SellerKey.objects.get()
    seller_client.post(reverse("accounts:seller_key_revoke", args=[key.id]))
    response = seller_client.post(UPLOAD, {"purpose": "signing", "public_pem": public})
    assert response.status_code == 400
    assert "already registered" in response.context["upload_form"].errors["public_pem"][0]
    assert SellerKey.objects.count() == 1


def test_buyers_cannot_have_seller_keys(buyer_client, ed25519_pair):
    response = buyer_client.post(UPLOAD, {"purpose": "signing", "public_pem": ed25519_pair[1]})
    assert response.status_code == 403
    assert SellerKey.objects.count() == 0


# --- Generation --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa-pss-sha256"])
def test_generated_private_key_is_shown_once_and_signs_for_the_stored_public_key(
    seller_client, seller, algorithm
):
    response = seller_client.post(GENERATE, {"purpose": "signing", "algorithm": algorithm})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    private_pem = _private_pem_from(response.content.decode())
    key = SellerKey.objects.get()
    assert (key.algorithm, key.origin) == (algorithm, "generated")
    assert f'download="clearhouse-signing-{key.id}.pem"' in response.content.decode()
    message = b"order 42 accepted"
    signature = crypto.sign(private_pem, message, algorithm=key.algorithm)
    crypto.verify(key.public_pem, message, signature, algorithm=key.algorithm)  # no exception
    with pytest.raises(crypto.CryptoError):
        crypto.verify(key.public_pem, b"order 43 accepted", signature, algorithm=key.algorithm)
    # Never again: not on the keys page, not in the database.
    body = private_pem.strip().splitlines()[1]
    assert body not in seller_client.get(KEYS).content.decode()
    assert DemoKeyMaterial.objects.count() == 0
    assert "PRIVATE" not in key.public_pem


def test_generated_encryption_key_opens_what_is_sealed_to_the_stored_public_key(seller_client):
    response = seller_client.post(GENERATE, {"purpose": "encryption", "algorithm": "ed25519"})
    assert response.status_code == 200
    private_pem = _private_pem_from(response.content.decode())
    key = SellerKey.objects.get()
    assert (key.purpose, key.algorithm, key.size_bits) == ("encryption", "rsa-oaep-sha256", 3072)
    sealed = crypto.seal(key.public_pem, b"ship to: 1 Main St")
    assert crypto.open_sealed(private_pem, sealed) == b"ship to: 1 Main St"


def test_generate_with_a_bad_algorithm_is_a_field_error(seller_client):
    response = seller_client.post(GENERATE, {"purpose": "signing", "algorithm": "dsa"})
    assert response.status_code == 400
    assert "algorithm" in response.context["generate_form"].errors
    assert SellerKey.objects.count() == 0


# --- Revocation --------------------------------------------------------------------------------


def test_revoke_a_key(seller_client, seller):
    key, _private = make_seller_key(seller)
    confirm = seller_client.get(reverse("accounts:seller_key_revoke", args=[key.id]))
    assert confirm.status_code == 200
    assert str(key.id) in confirm.content.decode()

    response = seller_client.post(reverse("accounts:seller_key_revoke", args=[key.id]))

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    revoked_at = key.revoked_at
    seller_client.post(reverse("accounts:seller_key_revoke", args=[key.id]))
    key.refresh_from_db()
    assert key.revoked_at == revoked_at  # idempotent


def test_another_sellers_key_is_404(seller_client, other_seller):
    key, _private = make_seller_key(other_seller)
    response = seller_client.post(reverse("accounts:seller_key_revoke", args=[key.id]))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_new_key_can_be_added_after_revoking(seller_client, seller):
    old, _ = make_seller_key(seller)
    seller_client.post(reverse("accounts:seller_key_revoke", args=[old.id]))
    response = seller_client.post(GENERATE, {"purpose": "signing", "algorithm": "ed25519"})
    assert response.status_code == 200
    from accounts.selectors import seller_active_key

    active = seller_active_key(seller=seller, purpose="signing")
    assert active is not None and active.id != old.id


# --- API ---------------------------------------------------------------------------------------


def test_api_upload_list_and_revoke(api_client, seller, ed25519_pair):
    api_client.force_authenticate(seller)
    created = api_client.post(
        "/api/v1/seller-keys/", {"purpose": "signing", "public_pem": ed25519_pair[1]}, format="json"
    )
    assert created.status_code == 201, created.json()
    key_id = created.json()["id"]
    assert created.json()["algorithm"] == "ed25519"
    listed = api_client.get("/api/v1/seller-keys/").json()["results"]
    assert [row["id"] for row in listed] == [key_id]
    revoked = api_client.post(f"/api/v1/seller-keys/{key_id}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None


@pytest.mark.parametrize(
    ("purpose", "pem"),
    [
        ("signing", MALFORMED_PEM),
        ("signing", EC_P256_PUBLIC_PEM),
        ("encryption", RSA_1024_PUBLIC_PEM),
        ("signing", "-----BEGIN PUBLIC KEY-----\n\x00\x01\n-----END PUBLIC KEY-----"),
        ("nonsense", "x"),
    ],
)
def test_api_bad_upload_is_400_on_the_field(api_client, seller, purpose, pem):
    api_client.force_authenticate(seller)
    response = api_client.post(
        "/api/v1/seller-keys/", {"purpose": purpose, "public_pem": pem}, format="json"
    )
    assert response.status_code == 400
    field = "purpose" if purpose == "nonsense" else "public_pem"
    assert field in str(response.json())
    assert SellerKey.objects.count() == 0


def test_api_generate_returns_the_private_key_once(api_client, seller):
    api_client.force_authenticate(seller)
    response = api_client.post(
        "/api/v1/seller-keys/generate/", {"purpose": "signing"}, format="json"
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    signature = crypto.sign(body["private_pem"], b"m", algorithm=body["algorithm"])
    stored = SellerKey.objects.get(pk=body["id"])
    crypto.verify(stored.public_pem, b"m", signature, algorithm=stored.algorithm)
    again = api_client.get(f"/api/v1/seller-keys/{body['id']}/").json()
    assert "private_pem" not in again


def test_api_another_sellers_key_is_404(api_client, seller, other_seller):
    key, _ = make_seller_key(other_seller)
    api_client.force_authenticate(seller)
    assert api_client.get(f"/api/v1/seller-keys/{key.id}/").status_code == 404
    assert api_client.post(f"/api/v1/seller-keys/{key.id}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_api_staff_sees_every_key(api_client, staff, seller, other_seller):
    make_seller_key(seller)
    make_seller_key(other_seller)
    api_client.force_authenticate(staff)
    assert len(api_client.get("/api/v1/seller-keys/").json()["results"]) == 2


def test_api_buyer_cannot_upload(api_client, buyer, ed25519_pair):
    api_client.force_authenticate(buyer)
    response = api_client.post(
        "/api/v1/seller-keys/", {"purpose": "signing", "public_pem": ed25519_pair[1]}, format="json"
    )
    assert response.status_code == 403
    assert SellerKey.objects.count() == 0


def test_api_staff_may_revoke_a_sellers_key_but_not_add_one(
    api_client, staff, seller, ed25519_pair
):
    key, _ = make_seller_key(seller)
    api_client.force_authenticate(staff)
    assert api_client.post(f"/api/v1/seller-keys/{key.id}/revoke/").status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = api_client.post(
        "/api/v1/seller-keys/", {"purpose": "signing", "public_pem": ed25519_pair[1]}, format="json"
    )
    assert response.status_code == 403
    assert SellerKey.objects.count() == 1
