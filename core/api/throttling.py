"""Rate limits. Rates live in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] and are read when a
request is checked (DRF's own classes read them once at import, which override_settings cannot reach).

- AnonRateThrottle / UserRateThrottle: on every API view (the defaults), by IP / by user.
- SensitiveRateThrottle: add it where abuse costs (API key creation, payouts, key uploads, anything a
  brute force could use): by user or IP, rate "sensitive". core.api.mixins.SensitiveThrottleMixin
  adds it to a view on top of the defaults.
- ScopedRateThrottle: a view's own `throttle_scope` with its rate in the same settings dict.

The client's IP is REMOTE_ADDR unless API_NUM_PROXIES says how many proxies to trust in
X-Forwarded-For (otherwise anyone could dodge the anonymous limit by inventing that header).
"""

from __future__ import annotations

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


class SensitiveRateThrottle(_LiveRatesMixin, throttling.SimpleRateThrottle):
    scope = "sensitive"

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
