"""Who sees which batches and payouts: a seller its own, staff all, anyone else none."""

from __future__ import annotations

from django.db.models import QuerySet

from payments.flows.selectors import is_platform_staff
from settlement.models import Payout, SettlementBatch


def batches_visible_to(user) -> QuerySet[SettlementBatch]:
    batches = SettlementBatch.objects.all()
    return (
        batches
        if is_platform_staff(user)
        else batches.filter(seller_id=user.pk, seller__role="seller")
    )


def payouts_visible_to(user) -> QuerySet[Payout]:
    payouts = Payout.objects.select_related("batch")
    return (
        payouts
        if is_platform_staff(user)
        else payouts.filter(seller_id=user.pk, seller__role="seller")
    )
