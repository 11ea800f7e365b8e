"""The buyer reference a seller sees: opaque and stable (an HMAC of the buyer's id, or a guest's
e-mail), so that a seller can tell repeat buyers apart without learning who they are. Kept on each
seller's sub-order when the order is made (and when a guest's e-mail changes) so that a seller's
list can filter by it through an index; the sealed order document carries the same value."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from core import crypto

PREFIX = "buyer_"
SHAPE = re.compile(r"^buyer_[0-9a-f]{32}$")


def buyer_reference_for(*, buyer_id: Any, buyer_email: str) -> str:
    who = f"user:{buyer_id}" if buyer_id else f"guest:{(buyer_email or '').lower()}"
    digest = crypto.hmac_sha256(settings.SECRET_KEY.encode(), f"clearhouse:buyer:{who}".encode())
    return PREFIX + digest.hex()[:32]
