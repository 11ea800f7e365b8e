"""The settlement app's API: batches and payouts (settlement/api.py)."""

from rest_framework.routers import SimpleRouter

from settlement.api import PayoutViewSet, SettlementBatchViewSet

router = SimpleRouter()
router.register("settlement-batches", SettlementBatchViewSet, basename="settlement-batch")
router.register("payouts", PayoutViewSet, basename="payout")

urlpatterns = router.urls
