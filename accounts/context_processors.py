"""`money_locale` on every page, beside the rule it applies (accounts.money_format.
user_money_locale): the locale `{% money %}` writes amounts in, a seller's own for a seller's
pages, the default for anyone else's. Lazy: the profile is read only by a page that writes an
amount and whose view did not give the locale itself."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.money_format import user_money_locale


def money_locale(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"money_locale": SimpleLazyObject(lambda: user_money_locale(user))}
