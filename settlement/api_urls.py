"""The settlement app's API: batches and payouts (settlement/api.py), receipts
(settlement/receipts/api.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from settlement.api import PayoutViewSet, SettlementBatchViewSet
from settlement.receipts.api import OrderReceiptApi

router = SimpleRouter()
router.register("settlement-batches", SettlementBatchViewSet, basename="settlement-batch")
router.register("payouts", PayoutViewSet, basename="payout")

urlpatterns = [
    *router.urls,
    path("orders/<uuid:order_id>/receipt", OrderReceiptApi.as_view(), name="api-order-receipt"),
]
