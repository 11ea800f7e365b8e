"""Rate limits. Rates live in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] and are read when a
request is checked (DRF's own classes read them once at import, which override_settings cannot reach).

- AnonRateThrottle / UserRateThrottle: on every API view (the defaults), by IP / by user.
- SensitiveRateThrottle: add it where abuse costs (API key creation, payouts, key uploads, payment
  creation against card testing, anything a brute force could use): by user or IP, rate
  "sensitive". core.api.mixins.SensitiveThrottleMixin adds it to a view on top of the defaults.
  It is a CounterRateThrottle (below): an atomic counter, so parallel requests cannot get past it.
- ScopedRateThrottle: a view's own `throttle_scope` with its rate in the same settings dict.

The client's IP is REMOTE_ADDR unless API_NUM_PROXIES says how many proxies to trust in
X-Forwarded-For (otherwise anyone could dodge the anonymous limit by inventing that header).
"""

from __future__ import annotations

import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings


class _LiveRatesMixin:
    scope: str | None

    def get_rate(self) -> str | None:
        if not getattr(self, "scope", None):
            raise ImproperlyConfigured(f"{type(self).__name__} needs a scope or a rate.")
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}.") from None


class AnonRateThrottle(_LiveRatesMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_LiveRatesMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_LiveRatesMixin, throttling.ScopedRateThrottle):
    pass


class CounterRateThrottle(_LiveRatesMixin, throttling.BaseThrottle):
    """A rate limit kept as two fixed-window counters per client, weighed as a sliding window.

    DRF's SimpleRateThrottle keeps every request time in one cache entry and reads, filters and
    writes it back: concurrent requests all read the same history and all pass (the card-testing
    limit could be beaten by sending in parallel), and the pickled list grows with the rate.

    Here the time is cut into windows of the rate's period; each window has a counter, and a
    request counts as allowed when

        previous_window_count * (1 - elapsed_fraction_of_this_window) + this_window_count <= limit

    (the approximation Cloudflare's and most Redis limiters use: the previous window is assumed
    spread evenly). The counter is incremented first and its new value, which includes the request
    being checked, is what is compared, so each request sees a distinct count and parallel requests
    cannot all pass.

    Denied requests count too: a client that keeps hammering while refused stays refused until it
    slows down (what a card tester should get); one that waits the Retry-After it is given gets in.

    Redis (django's RedisCache): INCR this window's key, EXPIRE it, GET the previous one, in one
    pipelined round trip. Other backends (DatabaseCache of the embedded default, LocMem in tests):
    cache.add + cache.incr + cache.touch + cache.get, as atomic as that backend's incr is.

    Subclasses say who the client is (get_cache_key) and name a scope; time is counted in whole
    milliseconds so the arithmetic (and the Retry-After that follows from it) is exact.
    """

    cache_alias: str = DEFAULT_CACHE_ALIAS
    cache_format = "throttle_%(scope)s_%(ident)s"
    scope: str | None = None
    # DRF's "number/period" format (period s, m, h or d, only the first letter read).
    parse_rate = throttling.SimpleRateThrottle.parse_rate

    def __init__(self) -> None:
        if not getattr(self, "rate", None):
            self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._previous = self._current = self._elapsed_ms = 0

    def timer(self) -> float:
        return time.time()

    def get_cache_key(self, request, view) -> str | None:
        raise NotImplementedError(".get_cache_key() must be overridden")

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        period_ms = self.duration * 1000
        now_ms = int(self.timer() * 1000)
        window, self._elapsed_ms = divmod(now_ms, period_ms)
        # The previous window's counter is needed until this window ends: keep each for two.
        self._current, self._previous = self._count(
            f"{key}:{window}", f"{key}:{window - 1}", 2 * self.duration
        )
        weighted = self._previous * (period_ms - self._elapsed_ms) + self._current * period_ms
        return weighted <= self.num_requests * period_ms

    def _count(self, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        """This window's count after adding this request, and the previous window's count."""
        cache = caches[self.cache_alias]
        if isinstance(cache, RedisCache):
            # The cache's prefix and version, without the memcached key-shape warnings (Redis takes any).
            key, previous_key = cache.make_key(key), cache.make_key(previous_key)
            pipe = cache._cache.get_client(key, write=True).pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, timeout)
            pipe.get(previous_key)
            current, _, previous = pipe.execute()
            return current, int(previous or 0)
        cache.add(key, 0, timeout)
        try:
            current = cache.incr(key)
        except ValueError:  # expired between add and incr
            current = 1
            cache.set(key, current, timeout)
        # BaseCache.incr (DatabaseCache, FileBasedCache) rewrites the entry with the default timeout.
        cache.touch(key, timeout)
        return current, int(cache.get(previous_key) or 0)

    def wait(self) -> float | None:
        """Seconds until one more request from this client would be allowed, if none come between."""
        limit, period_ms = self.num_requests, self.duration * 1000
        if limit < 1:
            return float(self.duration)
        room = limit - self._current - 1
        if room >= 0:
            if self._previous == 0:
                return 0.0
            # Later in this window: the previous window's share fades until it leaves room.
            allowed_from = period_ms - room * period_ms // self._previous
            return max(0, allowed_from - self._elapsed_ms) / 1000
        # Into the next window, where this window's count is the one that fades.
        allowed_from = max(0, period_ms - (limit - 1) * period_ms // self._current)
        return (period_ms - self._elapsed_ms + allowed_from) / 1000


class SensitiveRateThrottle(CounterRateThrottle):
    scope = "sensitive"

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
