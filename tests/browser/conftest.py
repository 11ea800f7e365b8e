"""Browser tests: Debian's chromium driven by Playwright (sync API) against pytest-django's live
server. No browser is downloaded: /usr/bin/chromium (apt-get install chromium) is launched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.storefront.factories import BuyerFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"needs {CHROMIUM}: apt-get install -y chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _async_unsafe_allowed():
    # Playwright's sync API keeps an event loop running in this thread from the first browser
    # test to the end of the session; the ORM calls made here (database setup and flush, the
    # tests' own queries) are synchronous and safe. Set for the rest of the session on purpose:
    # tests that run after the browser tests share the thread with that loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(autouse=True)
def _site_urls(settings):
    settings.ROOT_URLCONF = "tests.storefront.urls"


@pytest.fixture
def signed_in_page(page, live_server):
    """A browser page signed in as a fresh buyer (session cookie from Django's test client)."""
    buyer = BuyerFactory()
    client = Client()
    client.force_login(buyer)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.set_default_timeout(15_000)
    return page


# Card number and CVC inputs are painted over in screenshots: a PAN must not stay on disk.
CARD_INPUTS = "input[name$='card_number'], input[name$='card_cvc']"


@pytest.fixture
def shots(request):
    """shots("name") saves a full-page screenshot under test-artifacts/<test name>/ (card fields
    masked)."""
    folder = ARTIFACTS / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def take(page, name: str) -> Path:
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True, mask=[page.locator(CARD_INPUTS)])
        return path

    return take
