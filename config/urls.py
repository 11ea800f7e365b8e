from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("pay/", include("payments.payment_urls")),
    path("settlement/", include("settlement.urls")),
    # The sellers' settlements dashboard (/seller/ and below; the other /seller/ pages are the
    # storefront's, mounted at the root further down).
    path("seller/", include("settlement.dashboard.urls")),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Last of the /api/ routes: an unknown API URL answers 404 in the API's error shape.
    re_path(r"^api/", core_views.api_not_found),
    # The storefront (shop, cart, checkout, orders, seller products) is mounted at the root.
    path("", include("payments.storefront_urls")),
]
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Failures outside DRF views: the API's JSON error shape under /api/, Django's pages elsewhere.
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
