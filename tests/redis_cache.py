"""The default cache on the configured Redis, for a fixture (skipped without REDIS_URL):

@pytest.fixture
def redis_default_cache():
    yield from default_cache_on_redis()
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings


def default_cache_on_redis() -> Iterator[SimpleNamespace]:
    """The default cache on REDIS_URL under a prefix of its own: cache, raw client, prefix."""
    if not settings.REDIS_URL:
        if os.environ.get("CLEARHOUSE_REQUIRE_FULL_STACK") == "1":
            pytest.fail("CLEARHOUSE_REQUIRE_FULL_STACK=1 but REDIS_URL is not set", pytrace=False)
        pytest.skip("needs Redis: set REDIS_URL=redis://... to run it")
    from config.settings.base import redis_cache

    prefix = f"test-cache-{uuid.uuid4().hex}"
    with override_settings(CACHES={"default": redis_cache(settings.REDIS_URL, KEY_PREFIX=prefix)}):
        cache = caches["default"]
        client = cache._cache.get_client(write=True)
        yield SimpleNamespace(cache=cache, client=client, prefix=prefix)
        # Not cache.clear(): that is FLUSHDB, and this database also holds the Celery queue.
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
