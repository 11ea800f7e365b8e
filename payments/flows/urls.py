"""Payment pages, mounted at /pay/ (config/urls.py, namespace "pay")."""

from django.urls import path

from payments.flows import views

app_name = "pay"

urlpatterns = [
    path("3ds/<uuid:payment_id>/", views.three_ds_challenge, name="three_ds"),
    path("wallet/<uuid:payment_id>/", views.wallet_page, name="wallet"),
    path("wallet/<uuid:payment_id>/approve/", views.wallet_approve, name="wallet_approve"),
    path("bank/<uuid:payment_id>/", views.bank_instructions, name="bank"),
    path("notify/<slug:provider>/", views.notify, name="notify"),
]
