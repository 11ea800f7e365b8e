"""A seller's product pages (included by payments/urls.py, namespace "payments")."""

from django.urls import path

from payments.catalog import views

urlpatterns = [
    path("seller/products/", views.product_list, name="seller_products"),
    path("seller/products/new/", views.product_new, name="seller_product_new"),
    path(
        "seller/products/<int:product_id>/edit/",
        views.product_edit,
        name="seller_product_edit",
    ),
    path(
        "seller/products/<int:product_id>/stock/",
        views.product_stock,
        name="seller_product_stock",
    ),
]
