"""The ledger in the admin is read-only, searchable and filterable."""

import pytest
from django.urls import reverse

from accounts.models import User
from ledger.models import Account, BalanceDelta, Transfer
from ledger.services import create_transfer
from tests.ledger.factories import DEBIT_LIMIT, account, request
from tests.two_factor import verify_second_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("ops@example.com", "a-long-password-1")
    return verify_second_factor(client, user)


@pytest.fixture
def posted():
    card = account("external:card")
    escrow = account("platform:escrow", limit=DEBIT_LIMIT)
    return create_transfer(request(card, escrow, 1_234, reference="order:42", reason="capture"))


@pytest.mark.parametrize("model", [Account, Transfer, BalanceDelta])
def test_changelists_render_and_nothing_can_be_added_or_deleted(staff_client, posted, model):
    name = model._meta.model_name
    assert staff_client.get(reverse(f"admin:ledger_{name}_changelist")).status_code == 200
    assert staff_client.get(reverse(f"admin:ledger_{name}_add")).status_code == 403
    row = model.objects.first()
    change_url = reverse(f"admin:ledger_{name}_change", args=[row.pk])
    page = staff_client.get(change_url)
    assert page.status_code == 200  # a view-only page
    assert b'name="_save"' not in page.content
    before = model.objects.count()
    assert staff_client.post(change_url, {}).status_code == 403
    delete_url = reverse(f"admin:ledger_{name}_delete", args=[row.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert model.objects.count() == before


def test_transfer_search_and_filters(staff_client, posted):
    url = reverse("admin:ledger_transfer_changelist")
    for term in ("order:42", str(posted.id), "platform:escrow", "not-a-uuid"):
        assert staff_client.get(url, {"q": term}).status_code == 200
    hit = staff_client.get(url, {"q": "order:42"})
    assert str(posted.id).encode() in hit.content
    miss = staff_client.get(url, {"q": "order:43"})
    assert str(posted.id).encode() not in miss.content
    for params in ({"currency": "USD"}, {"kind": "posted"}, {"reason": "capture"}):
        assert str(posted.id).encode() in staff_client.get(url, params).content


def test_account_search(staff_client, posted):
    url = reverse("admin:ledger_account_changelist")
    page = staff_client.get(url, {"q": "escrow"})
    assert page.status_code == 200
    assert b"platform:escrow" in page.content
    assert staff_client.get(url, {"q": "12abc"}).status_code == 200
    assert staff_client.get(url, {"currency": "USD"}).status_code == 200
