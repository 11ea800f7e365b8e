from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", api.ApiKeyViewSet, basename="api-key")
router.register("seller-keys", api.SellerKeyViewSet, basename="seller-key")
router.register("seller-profiles", api.SellerProfileViewSet, basename="seller-profile")

urlpatterns = router.urls
