"""Everything under /api/v1/: each app's `api_urls.py` (its router's URLs), mounted at the root.

An app needs only to create <app>/api_urls.py with `urlpatterns` (e.g. a DRF router's urls):
it is picked up here, so no app has to edit config/.
"""

from importlib.util import find_spec

from django.urls import include, path

APPS_WITH_API = ["accounts", "ledger", "payments", "settlement"]

urlpatterns = [
    path("", include(f"{app}.api_urls"))
    for app in APPS_WITH_API
    if find_spec(f"{app}.api_urls") is not None
]
