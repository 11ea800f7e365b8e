"""The drill's world, made through the product's own services: sellers with bank accounts opened
at the sandbox bank (some that will refuse or send back the money, as the seed decides), money
captured and released to them through the ledger, the hold elapsed, one batch per seller.

Seller kinds (what their bank does with a payout):

    ok        the account exists: paid
    returns   the account sends credits back: paid, then returned
    closed    the account was closed: rejected (closed_account)
    name      the account belongs to another name: rejected (name_mismatch)
    unknown   no such account: rejected (invalid_account); the seller then gives a new, real
              account and the batch is paid again by a new payout
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from accounts.models import Role, User
from accounts.services import seller_profile_save
from core.money import Money
from ledger import chart
from ledger.services import TransferRequest, create_transfers
from settlement.batches import create_batches
from settlement.fees import fee_for
from settlement.gateways.sandbox_operator import SandboxBankOperator
from settlement.holds import hold_release, hold_terms_for
from settlement.maturation import mature_due

CURRENCY = "EUR"
CAPTURED_FROM = chart.external("drill")
# A German bank schwifty knows (its BIC is filled in); the sandbox bank holds every account.
SELLER_BANK_CODE = "37040044"
KIND_SHARES = {"returns": 0.05, "closed": 0.04, "name": 0.03, "unknown": 0.04}
RELEASES_PER_SELLER = (1, 3)
RELEASE_GROSS_MINOR = (500, 250_000)
TRANSFERS_PER_CALL = 3_000


@dataclass
class DrillSeller:
    user_id: int
    legal_name: str
    iban: str
    kind: str
    fixed_iban: str = ""  # the account an "unknown" seller gives after the failure


def seller_kinds(count: int, rng: random.Random) -> list[str]:
    """`count` kinds in a seeded order: the shares of KIND_SHARES (each at least once from 20
    sellers up), the rest "ok"."""
    kinds: list[str] = []
    for kind, share in KIND_SHARES.items():
        kinds += [kind] * max(1 if count >= 20 else 0, round(count * share))
    kinds = kinds[:count]
    kinds += ["ok"] * (count - len(kinds))
    rng.shuffle(kinds)
    return kinds


class _Ibans:
    """Distinct valid IBANs from the seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def new(self) -> str:
        while True:
            account = f"{self.rng.randrange(10**10):010d}"
            iban = IBAN.generate("DE", bank_code=SELLER_BANK_CODE, account_code=account).compact
            if iban in self.seen:
                continue
            try:  # the bank's own check digits in the account number, as profiles require
                IBAN(iban, validate_bban=True)
            except SchwiftyException:
                continue
            self.seen.add(iban)
            return iban


def make_sellers(count: int, rng: random.Random, token: str) -> list[DrillSeller]:
    """`count` sellers (no password: nobody logs in as them) with their profiles, through the
    profile service's validation."""
    ibans = _Ibans(rng)
    sellers = []
    users = []
    for number, kind in enumerate(seller_kinds(count, rng), start=1):
        user = User(email=f"drill-{token}-{number}@sellers.clearhouse.test", role=Role.SELLER)
        user.display_name = f"Drill seller {number}"
        user.set_unusable_password()
        users.append(user)
        sellers.append(DrillSeller(0, f"Drill Seller {number} GmbH", ibans.new(), kind))
    User.objects.bulk_create(users)
    for user, seller in zip(users, sellers, strict=True):
        seller.user_id = user.pk
        if seller.kind == "unknown":
            seller.fixed_iban = ibans.new()
        seller_profile_save(
            seller=user,
            data={
                "legal_name": seller.legal_name,
                "country": "DE",
                "default_currency": CURRENCY,
                "settlement_currency": CURRENCY,
                "bank_account_holder": seller.legal_name,
                "iban": seller.iban,
                "settlement_schedule": "daily",
                "minimum_payout": "0",
            },
            require_bank_account=True,
        )
    return sellers


def open_bank_accounts(operator: SandboxBankOperator, sellers: list[DrillSeller]) -> None:
    """Each seller's account at the bank, as its kind wants it."""
    for seller in sellers:
        if seller.kind == "unknown":
            continue
        holder = "Somebody Else Ltd" if seller.kind == "name" else seller.legal_name
        operator.open_account(
            iban=seller.iban,
            holder_name=holder,
            currency=CURRENCY,
            returns_credits=seller.kind == "returns",
        )
        if seller.kind == "closed":
            operator.close_account(seller.iban)


def fix_bank_account(operator: SandboxBankOperator, seller: DrillSeller) -> None:
    """The seller of a refused payout opens a real account and puts it on file (the profile
    changes, so the sweeper pays the batch again)."""
    operator.open_account(iban=seller.fixed_iban, holder_name=seller.legal_name, currency=CURRENCY)
    seller_profile_save(
        seller=User.objects.get(pk=seller.user_id), data={"iban": seller.fixed_iban, "bic": ""}
    )


def release_money(sellers: list[DrillSeller], rng: random.Random) -> int:
    """Capture and release a few sales to each seller (escrow -> pending and fees, held as the
    release step holds them); how many releases."""
    escrow = chart.account(currency=CURRENCY, code=chart.ESCROW)
    psp = chart.account(currency=CURRENCY, code=CAPTURED_FROM)
    fees = chart.account(currency=CURRENCY, code=chart.FEES)
    users = User.objects.select_related("seller_profile").in_bulk([s.user_id for s in sellers])
    now = timezone.now()
    requests: list[TransferRequest] = []
    holds: list[tuple[uuid.UUID, User, int]] = []
    for seller in sellers:
        user = users[seller.user_id]
        pending = chart.account(currency=CURRENCY, code=chart.seller_pending(user.pk))
        for _ in range(rng.randint(*RELEASES_PER_SELLER)):
            gross = rng.randint(*RELEASE_GROSS_MINOR)
            fee = fee_for(user, Money(gross, CURRENCY)).amount_minor
            release_id = uuid.uuid4()
            metadata = {"seller": user.pk, "drill": True}
            common = {"currency": CURRENCY, "metadata": metadata}
            requests += [
                TransferRequest(
                    uuid.uuid4(), psp, escrow, gross, reason="payment_captured", **common
                ),
                TransferRequest(
                    release_id, escrow, pending, gross - fee, reason="escrow_released", **common
                ),
            ]
            if fee:
                requests.append(
                    TransferRequest(
                        uuid.uuid4(), escrow, fees, fee, reason="platform_fee", **common
                    )
                )
            holds.append((release_id, user, gross - fee))
    with transaction.atomic():
        for start in range(0, len(requests), TRANSFERS_PER_CALL):
            create_transfers(requests[start : start + TRANSFERS_PER_CALL])
        for release_id, user, net in holds:
            hold_release(
                release_transfer_id=release_id,
                seller=user,
                currency=CURRENCY,
                amount_minor=net,
                released_at=now,
            )
    return len(holds)


def batches_after_hold(sellers: list[DrillSeller]) -> list[uuid.UUID]:
    """Let the hold elapse (maturation run with the clock moved past it) and make each seller's
    batch for today."""
    longest = max(
        hold_terms_for(user).hold
        for user in User.objects.select_related("seller_profile").filter(
            pk__in=[s.user_id for s in sellers]
        )
    )
    mature_due(now=timezone.now() + longest + dt.timedelta(minutes=1))
    batches = create_batches(day=timezone.localdate(), sellers=[s.user_id for s in sellers])
    return [batch.pk for batch in batches]
