"""Seller webhook pages; included by payments/urls.py (namespace "payments")."""

from django.urls import path

from payments.webhooks import views

urlpatterns = [
    path("seller/webhooks/", views.webhook_list, name="seller_webhooks"),
    path("seller/webhooks/new/", views.webhook_new, name="seller_webhook_new"),
    path("seller/webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="seller_webhook"),
    path(
        "seller/webhooks/<uuid:endpoint_id>/roll-secret/",
        views.webhook_roll,
        name="seller_webhook_roll",
    ),
    path(
        "seller/webhooks/<uuid:endpoint_id>/toggle/",
        views.webhook_toggle,
        name="seller_webhook_toggle",
    ),
    path(
        "seller/webhooks/<uuid:endpoint_id>/delete/",
        views.webhook_delete,
        name="seller_webhook_delete",
    ),
    path(
        "seller/webhooks/<uuid:endpoint_id>/deliveries/<str:delivery_id>/resend/",
        views.webhook_resend,
        name="seller_webhook_resend",
    ),
]
