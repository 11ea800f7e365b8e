"""Settlement's pages and endpoints outside the API (mounted at /settlement/)."""

from django.urls import path

from settlement.confirmations.views import acknowledgement_answer, acknowledgements_page
from settlement.payouts.callbacks import bank_callback
from settlement.receipts.views import receipt_page, receipt_pdf_download
from settlement.views import seller_payouts

app_name = "settlement"

urlpatterns = [
    path("bank/callbacks", bank_callback, name="bank-callback"),
    path("orders/<uuid:order_id>/receipt", receipt_page, name="order-receipt"),
    path("orders/<uuid:order_id>/receipt.pdf", receipt_pdf_download, name="order-receipt-pdf"),
    path("acknowledgements/", acknowledgements_page, name="acknowledgements"),
    path(
        "acknowledgements/<uuid:ack_id>/answer",
        acknowledgement_answer,
        name="acknowledgement-answer",
    ),
    path("payouts/", seller_payouts, name="payouts"),
]
