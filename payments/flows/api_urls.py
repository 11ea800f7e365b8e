"""The payment side's API routes; the lead includes them under /api/v1/."""

from rest_framework.routers import SimpleRouter

from payments.flows.api import PaymentMethodViewSet, PaymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("payments", PaymentViewSet, basename="payment")
router.register("payment-methods", PaymentMethodViewSet, basename="payment-method")

urlpatterns = router.urls
