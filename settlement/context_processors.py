"""`money_locale` on every page: the locale amounts are written in by `{% money %}`
(settlement.templatetags.dashboard_tags): a seller's pages in the seller's locale, anyone else's
in the default (accounts.money_format.user_money_locale). Lazy: the profile is read only by a
page that writes an amount."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.money_format import user_money_locale


def money_locale(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"money_locale": SimpleLazyObject(lambda: user_money_locale(user))}
