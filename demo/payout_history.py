"""The demo sellers' money history for `seed_demo`, made through the product's own services.

What a newcomer finds on a demo seller's money pages: four weekly rounds over the past month of
card orders bought by the demo buyers, accepted by the seller's signature, shipped and confirmed
(escrow released), matured after the hold, gathered into a batch for the round's day and paid to
the seller's account at the sandbox bank. The EUR seller's first payout went to an old account
that sends credits back: it was paid, returned, and paid again once the seller gave the account
on file now. The USD seller sells in EUR too: those sales are converted at the seeded EUR/USD rate
and paid in USD, to the seller's US account (ABA routing and account number). The JPY seller's
Japanese domestic account is one the sandbox bank does not take: it gets no history. Beside the
history, one open order per state for the EUR seller (placed, paid, rejected, accepted, shipped,
disputed, confirmed and on hold), so every state shows.

Nothing here writes a ledger row, a batch or a payout itself: orders, payments, acceptance,
release, maturation (settlement.maturation.mature_due), batches (create_batches), payouts
(create_payouts, submit_many, apply_bank_answer) are the services the product runs, and the bank
is the sandbox bank process (demo/bank.py). The rounds' batches are dated on the rounds' days;
the transfers they cover carry the time of the seeding (the ledger's times are its own). Each
round's hold is passed by running the maturation job with its clock a week on: it matures every
release due by then, which in a demo database is the demo sellers' money.

Idempotent: once a demo seller has a payout, its history is not made again.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass

from django.utils import timezone

from accounts.demo import demo_private_key_pem
from accounts.models import KeyPurpose, User
from accounts.selectors import seller_active_keys, seller_profile_of
from accounts.services import seller_profile_save
from core import crypto
from payments.catalog.models import Product
from payments.flows.start import payment_start
from payments.fulfilment.acceptance import sub_order_accept
from payments.fulfilment.disputes import dispute_open
from payments.fulfilment.rejection import sub_order_reject
from payments.fulfilment.shipping import sub_order_mark_shipped
from payments.fulfilment.tasks import seal_order_documents
from payments.models import Order, SealedOrderDocument, SubOrder
from payments.orders.services import order_create_from_cart
from payments.providers import sandbox_card_processor
from payments.vault.cards import validate_card
from settlement.batches import create_batches
from settlement.fx_rates import import_rates_csv
from settlement.gateways.base import FINAL_TRANSFER_STATUSES, BankGateway
from settlement.gateways.registry import get_bank_gateway
from settlement.gateways.sandbox_operator import SandboxBankOperator
from settlement.maturation import mature_due
from settlement.models import FINAL_PAYOUT_STATUSES, Payout, SettlementBatch
from settlement.payouts import services as payouts
from settlement.release.services import sub_order_confirm

ROUNDS = 4  # weekly, the last one a week ago
SHIPPING_ADDRESS = {
    "name": "Bea Buyer",
    "line1": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
# The sandbox card processor's always-authorised card (payments/providers/sandbox_card_processor).
TEST_CARD = {
    "number": sandbox_card_processor.SUCCEEDS,
    "exp_month": 12,
    "exp_year": 2030,
    "cvc": "947",
}
# Reference rates (1 base = rate quote), recorded once a day with the day's midnight as their
# time: fresh for conversions made that day and the next (CLEARHOUSE_FX_MAX_RATE_AGE_HOURS).
DEMO_FX_RATES = (("EUR", "USD", "1.0842"), ("EUR", "JPY", "162.35"))
FX_SOURCE = "demo:seed_demo"
# The EUR seller's former account, whose bank sends credits back (a valid DE IBAN at the bank of
# the account on file now).
EUR_FORMER_IBAN = "DE62370400440532013001"
BANK_WAIT_S = 60


@dataclass(frozen=True)
class DemoSale:
    """What one demo buyer buys from one demo seller: (product title, quantity)."""

    seller_email: str
    buyer_email: str
    lines: tuple[tuple[str, int], ...]


# Per round. Each seller's net per round is above its minimum payout.
ROUND_SALES = (
    DemoSale("seller.eur@clearhouse.test", "buyer1@clearhouse.test", (("Ceramic mug", 2),)),
    DemoSale("seller.eur@clearhouse.test", "buyer2@clearhouse.test", (("Beeswax candle", 1),)),
    DemoSale("seller.usd@clearhouse.test", "buyer1@clearhouse.test", (("Cast-iron skillet", 2),)),
    DemoSale("seller.usd@clearhouse.test", "buyer2@clearhouse.test", (("Postcard set", 3),)),
)
# Open orders, one per state, for the EUR seller (rejected by the seller after payment, disputed
# by the buyer after shipping).
OPEN_STATES = ("placed", "paid", "rejected", "accepted", "shipped", "disputed", "confirmed")
OPEN_SALE = DemoSale(
    "seller.eur@clearhouse.test", "buyer1@clearhouse.test", (("Linen tea towel", 1),)
)
PAID_SELLERS = ("seller.eur@clearhouse.test", "seller.usd@clearhouse.test")


def seed_fx_rates(*, now: dt.datetime | None = None) -> int:
    """Today's demo reference rates (idempotent: a rate recorded already is not written again)."""
    now = now or timezone.now()
    as_of = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = ["base,quote,rate,as_of"]
    lines += [f"{base},{quote},{rate},{as_of.isoformat()}" for base, quote, rate in DEMO_FX_RATES]
    result = import_rates_csv("\n".join(lines) + "\n", source=FX_SOURCE, now=now)
    return result.created


def demo_money_summary(sellers: list[User]) -> str:
    """One line per demo seller: batches, and payouts by state."""
    lines = ["Demo sellers' settlements (batches; payouts by state)"]
    for seller in sellers:
        states = Counter(Payout.objects.filter(seller=seller).values_list("status", flat=True))
        batches = SettlementBatch.objects.filter(seller=seller).count()
        told = ", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "none"
        lines.append(f"  {seller.email}: {batches} batches; payouts: {told}")
    return "\n".join(lines)


def demo_bank_accounts(sellers: list[User]) -> list[dict[str, str]]:
    """The account on file of each demo seller the sandbox bank can pay (an IBAN, or a US
    routing and account number), as SandboxBankOperator.open_account takes it. The JPY seller's
    Japanese domestic account is not one: its batches wait for an account the bank takes."""
    accounts = []
    for seller in sellers:
        profile = seller_profile_of(seller)
        if profile is None:
            continue
        if profile.iban:
            identity = {"iban": profile.iban}
        elif profile.country == "US" and profile.routing_number and profile.account_number:
            identity = {
                "routing_number": profile.routing_number,
                "account_number": profile.account_number,
            }
        else:
            continue
        holder = profile.bank_account_holder or profile.legal_name
        accounts.append(
            {**identity, "holder_name": holder, "currency": profile.settlement_currency}
        )
    return accounts


def seed_payout_history(sellers: list[User], operator: SandboxBankOperator) -> list[Payout]:
    """The history above, unless a demo seller already has a payout. Returns the payouts made."""
    by_email = {seller.email: seller for seller in sellers}
    paid = [by_email[email] for email in PAID_SELLERS if email in by_email]
    if not paid or Payout.objects.filter(seller__in=paid).exists():
        return []
    gateway = get_bank_gateway()
    eur = by_email["seller.eur@clearhouse.test"]
    profile = seller_profile_of(eur)
    current_iban = profile.iban
    holder = profile.bank_account_holder or profile.legal_name
    operator.open_account(
        iban=EUR_FORMER_IBAN, holder_name=holder, currency="EUR", returns_credits=True
    )
    today = timezone.localdate()
    made: list[Payout] = []
    for round_number in range(ROUNDS):
        day = today - dt.timedelta(days=7 * (ROUNDS - round_number))
        if round_number == 0:  # the first payout goes to the former account
            seller_profile_save(seller=eur, data={"iban": EUR_FORMER_IBAN})
        for sale in ROUND_SALES:
            make_sale(sale, until="confirmed")
        made += _pay_round(day, paid, gateway)
        if round_number == 0:  # it came back; the seller gives the account on file now
            seller_profile_save(seller=eur, data={"iban": current_iban})
            again = payouts.retry_unpaid_batches()
            made += _pay(again, gateway)
    for state in OPEN_STATES:
        make_sale(OPEN_SALE, until=state)
    return made


def _pay_round(day: dt.date, sellers: list[User], gateway: BankGateway) -> list[Payout]:
    # The hold (2 days by default) is over for this round's releases: as the beat would find it.
    mature_due(now=timezone.now() + dt.timedelta(days=7))
    batches = create_batches(day=day, sellers=[seller.pk for seller in sellers])
    return _pay(payouts.create_payouts([batch.pk for batch in batches]), gateway)


def _pay(payout_ids: list, gateway: BankGateway) -> list[Payout]:
    """Submit the payouts to the bank and apply what it says until each one is final (a paid
    payout whose account sends credits back, until it is returned)."""
    payouts.submit_many(payout_ids, gateway)
    deadline = time.monotonic() + BANK_WAIT_S
    while True:
        waiting = []
        for payout in Payout.objects.filter(pk__in=payout_ids):
            known = gateway.status(payout_id=payout.bank_id)
            if known is None or known.status not in FINAL_TRANSFER_STATUSES:
                waiting.append(payout.pk)
                continue
            if known.status == "paid" and payout.iban == EUR_FORMER_IBAN:
                waiting.append(payout.pk)  # it comes back: wait for the return
            payouts.apply_bank_answer(known)
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox bank did not settle payouts {waiting}")
        time.sleep(0.2)
    result = list(Payout.objects.filter(pk__in=payout_ids))
    assert all(p.status in FINAL_PAYOUT_STATUSES for p in result), "every payout is final"
    return result


def make_sale(sale: DemoSale, *, until: str) -> SubOrder | Order:
    """One card order of `sale`, taken through the product's steps up to `until` (placed, paid,
    accepted, shipped or confirmed; or rejected after paid, disputed after shipped), as buyer and
    seller would."""
    seller = User.objects.get(email__iexact=sale.seller_email)
    buyer = User.objects.get(email__iexact=sale.buyer_email)
    products = {p.title: p for p in Product.objects.filter(seller=seller)}
    order = order_create_from_cart(
        buyer=buyer,
        cart_lines=[
            {"product_id": products[title].pk, "quantity": quantity}
            for title, quantity in sale.lines
        ],
        shipping_address=SHIPPING_ADDRESS,
    )
    if until == "placed":
        return order
    card = validate_card(**TEST_CARD)
    payment_start(order=order, method="card", card=card, actor=f"buyer:{buyer.pk}")
    # What the worker's dispatch of order.paid does first (the task's own function): make and
    # seal the order's documents, so that the seller has something to sign.
    seal_order_documents(str(order.pk))
    sub_order = order.sub_orders.get(seller=seller)
    if until == "paid":
        return sub_order
    if until == "rejected":
        return sub_order_reject(
            sub_order_id=sub_order.pk,
            seller=seller,
            reason="Sold out in the shop the same morning, sorry.",
            actor=f"seller:{seller.pk}",
        )
    _accept(sub_order, seller)
    if until == "accepted":
        return sub_order
    sub_order_mark_shipped(sub_order_id=sub_order.pk, seller=seller, actor=f"seller:{seller.pk}")
    if until == "shipped":
        return sub_order
    if until == "disputed":
        dispute_open(
            sub_order_id=sub_order.pk,
            buyer=buyer,
            reason="The parcel has not arrived.",
            actor=f"buyer:{buyer.pk}",
        )
        return sub_order
    sub_order_confirm(sub_order_id=sub_order.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")
    return sub_order


def _accept(sub_order: SubOrder, seller: User) -> None:
    """The seller signs the order document with the demo signing key (seed_demo holds its private
    half encrypted, accounts.demo) and accepts."""
    key = next(
        key
        for key in seller_active_keys(seller=seller, purpose=KeyPurpose.SIGNING)
        if demo_private_key_pem(key)
    )
    document = SealedOrderDocument.objects.get(sub_order=sub_order)
    signature = crypto.sign(
        demo_private_key_pem(key), document.document_bytes, algorithm=key.algorithm
    )
    sub_order_accept(
        sub_order_id=sub_order.pk,
        seller=seller,
        key_id=key.pk,
        signature_b64=base64.b64encode(signature).decode(),
        actor=f"seller:{seller.pk}",
    )
