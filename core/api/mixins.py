"""Small additions for API views."""

from __future__ import annotations

from core.api.throttling import SensitiveRateThrottle


class SensitiveThrottleMixin:
    """Adds the "sensitive" rate limit on top of the view's usual throttles."""

    def get_throttles(self) -> list:
        return [*super().get_throttles(), SensitiveRateThrottle()]
