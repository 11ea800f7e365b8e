"""The hold on released money: how long a seller's release waits in `pending` before payouts may
take it, and the rolling reserve kept back for longer. Both come from the seller's fee plan
(settings.CLEARHOUSE_FEE_PLANS: "hold_days", "reserve_bps", "reserve_days") and are fixed when the
money is released, so a later plan change never moves money already released.

    release 10,000 EUR-cents at a plan with hold_days=2, reserve_bps=1000, reserve_days=30
      -> day 2:  9,000 pending -> available, 1,000 pending -> reserve
      -> day 32: 1,000 reserve -> available

The reserve is core.money.fee_from_bps of the net (half-up, never more than the net).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from core.money import fee_from_bps
from settlement.fees import fee_plans, plan_name_for
from settlement.models import HeldRelease

DEFAULT_HOLD_DAYS = 2


@dataclass(frozen=True)
class HoldTerms:
    hold: dt.timedelta
    reserve_bps: int
    reserve_for: dt.timedelta


def hold_terms_for(seller: Any) -> HoldTerms:
    plan = fee_plans()[plan_name_for(seller)]
    return HoldTerms(
        hold=dt.timedelta(days=plan.get("hold_days", DEFAULT_HOLD_DAYS)),
        reserve_bps=plan.get("reserve_bps", 0),
        reserve_for=dt.timedelta(days=plan.get("reserve_days", 0)),
    )


def hold_release(
    *,
    release_transfer_id: uuid.UUID,
    seller: Any,
    currency: str,
    amount_minor: int,
    released_at: dt.datetime,
) -> HeldRelease:
    """Record a release's net as held. Call in the release's transaction, after its transfer. A
    replayed release (the same transfer id) finds its hold already there and changes nothing."""
    terms = hold_terms_for(seller)
    reserve = fee_from_bps(amount_minor, terms.reserve_bps)
    due_at = released_at + terms.hold
    held, _ = HeldRelease.objects.get_or_create(
        release_transfer_id=release_transfer_id,
        defaults={
            "seller": seller,
            "currency": currency,
            "amount_minor": amount_minor,
            "reserve_minor": reserve,
            "due_at": due_at,
            "reserve_due_at": due_at + terms.reserve_for if reserve else None,
        },
    )
    return held
