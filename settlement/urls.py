"""Settlement's pages and endpoints outside the API (mounted at /settlement/)."""

from django.urls import path

from settlement.payouts.callbacks import bank_callback
from settlement.receipts.views import receipt_page
from settlement.views import seller_payouts

app_name = "settlement"

urlpatterns = [
    path("bank/callbacks", bank_callback, name="bank-callback"),
    path("orders/<uuid:order_id>/receipt", receipt_page, name="order-receipt"),
    path("payouts/", seller_payouts, name="payouts"),
]
