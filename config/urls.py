from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views
from ledger import api as ledger_api
from payments import urls as payments_urls
from settlement.release import urls as release_urls

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    # The platform's signing keys and latest tree head, for offline verifiers (docs/receipts.md).
    path(".well-known/clearhouse-keys.json", ledger_api.published_keys, name="clearhouse-keys"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("pay/", include("payments.flows.urls")),
    path("settlement/", include("settlement.urls")),
    # The sellers' settlements dashboard (/seller/ and below; the other /seller/ pages are the
    # storefront's, mounted at the root further down).
    path("seller/", include("settlement.dashboard.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last of the /api/ routes: an unknown API URL answers 404 in the API's error shape.
    re_path(r"^api/", core_views.api_not_found),
    # The storefront (shop, cart, checkout, orders, seller pages) is mounted at the root, namespace
    # "payments"; settlement's confirm-receipt action answers in the same namespace beside the
    # order pages (payments:order_confirm, as the templates name it).
    path("", include(([*payments_urls.urlpatterns, *release_urls.urlpatterns], "payments"))),
]
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Failures outside DRF views: the API's JSON error shape under /api/, Django's pages elsewhere.
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
