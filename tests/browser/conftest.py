"""Browser tests: Debian's chromium driven by Playwright (sync API) against pytest-django's live
server. No browser is downloaded: /usr/bin/chromium (apt-get install chromium) is launched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
