"""Confirm receipt (the buyer's page action): in the "payments" namespace beside the order pages
(config/urls.py mounts it there)."""

from django.urls import path

from settlement.release import views

urlpatterns = [
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/confirm/",
        views.order_confirm,
        name="order_confirm",
    ),
]
