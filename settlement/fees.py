"""Platform fee plans: a seller's plan (SellerProfile.fee_plan) names an entry of
settings.CLEARHOUSE_FEE_PLANS, each a rate in basis points (1 bps = 0.01 %).

    fee_for(seller, Money(10000, "EUR")) -> Money(290, "EUR")     # "standard": 290 bps

The fee is core.money.fee_from_bps: integer arithmetic, rounded half-up to the currency's minor
unit (so JPY fees are whole yen and KWD fees whole fils), and never more than the amount.
A seller without a profile pays the default plan (CLEARHOUSE_DEFAULT_FEE_PLAN, "standard").
An unknown plan name is a configuration error and refuses the operation (nothing is released).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.errors import IntegrityViolation
from core.money import MAX_FEE_BPS, Money, fee_from_bps

DEFAULT_FEE_PLANS: dict[str, dict[str, int]] = {
    "standard": {"bps": 290},
    "reduced": {"bps": 150},
    "zero": {"bps": 0},
}
DEFAULT_PLAN = "standard"


class UnknownFeePlan(IntegrityViolation):
    """The seller's fee plan is not configured."""

    code = "unknown_fee_plan"


def fee_plans() -> dict[str, dict[str, int]]:
    return getattr(settings, "CLEARHOUSE_FEE_PLANS", DEFAULT_FEE_PLANS)


def plan_name_for(seller: Any) -> str:
    # RelatedObjectDoesNotExist (no profile yet) is an AttributeError: getattr's default covers it.
    profile = getattr(seller, "seller_profile", None) if seller is not None else None
    name = getattr(profile, "fee_plan", None)
    return name or getattr(settings, "CLEARHOUSE_DEFAULT_FEE_PLAN", DEFAULT_PLAN)


def plan_bps(name: str) -> int:
    plan = fee_plans().get(name)
    bps = plan.get("bps") if isinstance(plan, dict) else None
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= MAX_FEE_BPS:
        raise UnknownFeePlan(
            f"Fee plan {name!r} is not configured (CLEARHOUSE_FEE_PLANS).",
            extra={"fee_plan": name},
        )
    return bps


def fee_for(seller: Any, amount: Money) -> Money:
    """The platform's fee on `amount` for this seller's plan, in the same currency."""
    return Money(
        fee_from_bps(amount.amount_minor, plan_bps(plan_name_for(seller))), amount.currency
    )
