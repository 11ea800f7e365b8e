"""The seller's dashboard pages, mounted at /seller/ beside the other seller pages (namespace
"dashboard"): /seller/ is the overview."""

from django.urls import path

from settlement.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/", views.live, name="live"),
    # The orders list (an order's own pages are payments' /seller/orders/<id>/...).
    path("orders/", views.orders, name="orders"),
    path("settlements/", views.settlements, name="settlements"),
    path("settlements/export.csv", views.export_csv, name="export_csv"),
    path("settlements/<uuid:batch_id>/", views.batch_detail, name="batch"),
    path("settlements/<uuid:batch_id>/lines.csv", views.batch_csv, name="batch_csv"),
    path("payouts/", views.payouts, name="payouts"),
    path("payouts/<uuid:payout_id>/", views.payout_detail, name="payout"),
    path("developers/", views.developers, name="developers"),
]
