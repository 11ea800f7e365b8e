"""Everything under /api/v1/: each app adds its router's URLs here."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api_urls")),
]
