"""The catalogue API (payments/catalog/api.py); included under /api/v1/."""

from django.urls import path

from payments.catalog import api

urlpatterns = [
    path("products", api.ProductListCreateApi.as_view(), name="api-products"),
    path("products/<int:product_id>", api.ProductDetailApi.as_view(), name="api-product"),
    path(
        "products/<int:product_id>/stock", api.ProductStockApi.as_view(), name="api-product-stock"
    ),
]
