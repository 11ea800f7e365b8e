"""The real URLconf plus test-only API views, ahead of the /api/ catch-all."""

from django.urls import path

from config import urls as project_urls
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from tests.api import views

urlpatterns = [
    path("api/v1/test/errors/<str:kind>", views.ErrorsView.as_view()),
    path("api/v1/test/private", views.PrivateView.as_view()),
    path("api/v1/test/forbidden", views.ForbiddenView.as_view()),
    path("api/v1/test/post-only", views.PostOnlyView.as_view()),
    path("api/v1/test/sensitive", views.SensitiveView.as_view()),
    path("api/v1/test/effects", views.EffectView.as_view()),
    path("api/v1/test/keys", views.KeyListView.as_view()),
    *project_urls.urlpatterns,
]
