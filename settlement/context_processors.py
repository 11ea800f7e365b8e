"""`money_locale` on every page: the locale amounts are written in by `{% money %}`
(settlement.templatetags.dashboard_tags). A seller's pages use the seller's locale, the one rule
of the dashboard (settlement.dashboard.formatting.seller_locale); anyone else's DEFAULT_LOCALE.
Lazy: the profile is read only by a page that writes an amount."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from settlement.dashboard.formatting import DEFAULT_LOCALE, seller_locale


def money_locale(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)

    def locale() -> str:
        if not getattr(user, "is_authenticated", False) or getattr(user, "role", "") != "seller":
            return DEFAULT_LOCALE
        try:
            return seller_locale(user.seller_profile)
        except ObjectDoesNotExist:
            return DEFAULT_LOCALE

    return {"money_locale": SimpleLazyObject(locale)}
