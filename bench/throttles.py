"""Bench-only experiment (BENCH_USER_THROTTLE=counter, see bench.checkout_settings): the per-user
API rate on the atomic counter that the "sensitive" rate uses, instead of DRF's sliding log, to
measure what the log costs the no-op and the payment alike. Not used by the product."""

from core.api.throttling import CounterRateThrottle


class CounterUserRateThrottle(CounterRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
        return None  # the anonymous rate applies
