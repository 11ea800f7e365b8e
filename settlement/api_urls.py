"""Settlement's API under /api/v1/ (config/api_urls.py picks this module up): batches and payouts
(settlement/api.py), receipts (settlement/receipts/api.py), the buyer's confirm
(settlement/release/api.py), acknowledgements (settlement/confirmations/api.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from settlement.api import PayoutViewSet, SettlementBatchViewSet
from settlement.confirmations import api as confirmation_api
from settlement.receipts.api import OrderReceiptApi
from settlement.release import api as release_api

router = SimpleRouter(trailing_slash=False)
router.register("settlement-batches", SettlementBatchViewSet, basename="settlement-batch")
router.register("payouts", PayoutViewSet, basename="payout")

urlpatterns = [
    *router.urls,
    path("orders/<uuid:order_id>/receipt", OrderReceiptApi.as_view(), name="api-order-receipt"),
    path(
        "acknowledgements",
        confirmation_api.AcknowledgementListApi.as_view(),
        name="api-acknowledgements",
    ),
    path(
        "acknowledgements/<uuid:ack_id>",
        confirmation_api.AcknowledgementDetailApi.as_view(),
        name="api-acknowledgement",
    ),
    path(
        "acknowledgements/<uuid:ack_id>/answer",
        confirmation_api.AcknowledgementAnswerApi.as_view(),
        name="api-acknowledgement-answer",
    ),
    path(
        "acknowledgements/<uuid:ack_id>/resolve",
        confirmation_api.AcknowledgementResolveApi.as_view(),
        name="api-acknowledgement-resolve",
    ),
    path(
        "orders/<uuid:order_id>/sub-orders/<int:sub_order_id>/confirm",
        release_api.SubOrderConfirmApi.as_view(),
        name="api-sub-order-confirm",
    ),
]
