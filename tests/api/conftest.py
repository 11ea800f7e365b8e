import pytest
from django.core.cache import cache

from tests.api.views import effect_control


@pytest.fixture(autouse=True)
def _fresh_state():
    """Throttle counters live in the default cache; the effect view has switches."""
    cache.clear()
    effect_control.reset()
    yield
    effect_control.reset()
    cache.clear()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
