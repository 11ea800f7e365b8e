"""What a user sees when something goes wrong: the site's own 400/403/404/500 pages (saying what
happened and where to go), also under `make run`, whose web process runs without DEBUG; and what
`make run` leaves behind stays under var/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory

from config.settings.base import VAR_DIR, broker_transport_options
from core import views

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_the_sites_404_with_its_nav():
    response = Client().get("/no-such-page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="error-page"' in body and "We can't find that page" in body
    assert '<nav aria-label="Main">' in body and 'href="/shop/"' in body


def test_a_403_says_why_in_the_sites_style():
    request = RequestFactory().get("/seller/orders/")
    request.user = None

    response = views.permission_denied(request, PermissionDenied("Only sellers see this page."))

    body = response.content.decode()
    assert response.status_code == 403
    assert "You can't do that here" in body and "Only sellers see this page." in body


def test_a_400_and_a_500_are_the_sites_pages():
    request = RequestFactory().get("/checkout/")
    request.user = None

    bad = views.bad_request(request, ValueError("junk"))
    broken = views.server_error(request)

    assert bad.status_code == 400 and "could not be understood" in bad.content.decode()
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.content.decode()
    assert "/static/css/app.css" in broken.content.decode()


def test_make_run_serves_without_debug():
    web = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )

    assert "DJANGO_DEBUG=${DJANGO_DEBUG:-0}" in web


def test_the_filesystem_broker_keeps_every_folder_under_var():
    options = broker_transport_options("filesystem://")

    folders = [Path(v) for k, v in options.items() if k.endswith("folder") or "folder_" in k]
    assert {"data_folder_in", "data_folder_out", "processed_folder", "control_folder"} <= set(
        options
    )
    assert all(folder.is_relative_to(VAR_DIR) for folder in folders)
