"""Release-side page (included by payments/urls.py, namespace "payments")."""

from django.urls import path

from payments.fulfilment import release_views

urlpatterns = [
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/confirm/",
        release_views.order_confirm,
        name="order_confirm",
    ),
]
