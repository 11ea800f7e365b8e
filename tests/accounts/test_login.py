import re

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.urls import reverse

from tests.accounts.factories import PASSWORD, BuyerFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")


def _login(client, email, password):
    return client.post(LOGIN, {"username": email, "password": password})


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_with_email_in_any_case(client):
    user = BuyerFactory(email="mia@example.com")
    response = _login(client, "MIA@Example.com", PASSWORD)
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_wrong_password_re_shows_the_form_with_a_message(client):
    BuyerFactory(email="mia@example.com")
    response = _login(client, "mia@example.com", "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct email and password" in response.content.decode()
    assert not _logged_in(client)


def test_fifth_failure_locks_the_account_and_shows_the_locked_out_page(client, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    BuyerFactory(email="victim@example.com")
    for _ in range(4):
        assert _login(client, "victim@example.com", "guess").status_code == 200

    locked = _login(client, "victim@example.com", "guess")

    assert locked.status_code == 429
    assert "accounts/locked_out.html" in [t.name for t in locked.templates]
    page = locked.content.decode()
    assert "Too many failed log-ins" in page
    assert "victim@example.com" in page
    assert reverse("accounts:password_reset") in page
    assert "for 15 minutes" in page
    # Even the right password is refused while the lock holds, from the same address.
    again = _login(client, "victim@example.com", PASSWORD)
    assert again.status_code == 429
    assert not _logged_in(client)
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "victim@example.com"
    assert attempt.failures_since_start >= 5


def test_lockout_counts_one_address_however_it_is_capitalised(client):
    BuyerFactory(email="victim@example.com")
    for spelling in [
        "victim@example.com",
        "Victim@example.com",
        "VICTIM@example.com",
        "victim@EXAMPLE.com",
    ]:
        _login(client, spelling, "guess")
    assert _login(client, "ViCtIm@example.com", "guess").status_code == 429


def test_lockout_is_per_account_and_address(client):
    BuyerFactory(email="victim@example.com")
    other = BuyerFactory(email="other@example.com")
    for _ in range(5):
        _login(client, "victim@example.com", "guess")
    response = _login(client, "other@example.com", PASSWORD)
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == other.pk


def test_logout_needs_post(client):
    user = BuyerFactory()
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert _logged_in(client)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert not _logged_in(client)


def test_password_reset_sends_an_email_whose_link_sets_a_new_password(client):
    BuyerFactory(email="forgetful@example.com")

    response = client.post(reverse("accounts:password_reset"), {"email": "Forgetful@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["forgetful@example.com"]
    assert message.subject == "Reset your Clearhouse password"
    link = re.search(r"https?://[^/\s]+(/accounts/password-reset/\S+/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    new_password = "a-brand-new-passphrase-9"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert done.status_code == 302
    assert done.url == reverse("accounts:password_reset_complete")
    assert _login(client, "forgetful@example.com", new_password).status_code == 302


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_change(client):
    user = BuyerFactory()
    client.force_login(user)
    page = client.get(reverse("accounts:password_change"))
    assert page.status_code == 200
    new_password = "another-long-passphrase-7"
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_change_done")
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_password_change_with_a_wrong_old_password_changes_nothing(client):
    user = BuyerFactory()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password1": "x-long-passphrase-1",
            "new_password2": "x-long-passphrase-1",
        },
    )
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
