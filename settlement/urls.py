"""Settlement's pages and endpoints outside the API (mounted at /settlement/)."""

from django.urls import path

from settlement.payouts.callbacks import bank_callback

app_name = "settlement"

urlpatterns = [
    path("bank/callbacks", bank_callback, name="bank-callback"),
]
