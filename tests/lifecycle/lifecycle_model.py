"""The world the lifecycle model (test_lifecycle_model.py) runs in: a fresh database per example,
a clock it moves, providers it can break, the task messages it delivers, and what the ledger and
the providers each say about the money.

- Database: committed for real (steps run in threads with their own connections and row locks),
  so each example starts with `reset_database()`: one TRUNCATE of every table the app writes.
- Clock: freezegun, ticking, started once per test and moved by the model (as the release and
  acceptance tests move time for auto-confirm and expiries).
- Providers: the real sandbox providers behind `FaultyProvider`, a proxy in the registry that can
  be down (nothing reaches the far side), lose the answer (the far side acted, the platform hears
  a timeout), refuse, or be slow.
- Tasks: every message a step publishes (`Task.apply_async`) lands in `TaskQueue` instead of a
  broker; the model delivers them late, twice, out of order, or loses them, and calls the same
  service each task calls. The sweepers must make up for what is lost.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Role, SellerProfile, User
from accounts.services import seller_key_upload
from core import crypto
from ledger import chart
from ledger.models import Account, Transfer
from ledger.services import clear_account_id_cache
from payments.flows.ledger import hold_transfer_id
from payments.flows.models import Payment
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.fulfilment.refunds import refund_transfer_id
from payments.models import Order, OrderLine, SubOrder
from payments.providers import registry
from payments.providers.base import PaymentProvider, ProviderError, ProviderUnavailable
from payments.providers.models import SandboxCardCharge, SandboxOperation, SandboxWalletTrade
from tests.payments.pay_factories import make_user

# Tables the truncate leaves alone: what migrations write once and nothing changes.
_KEPT_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def reset_database() -> None:
    """Every app table emptied in one statement (as TransactionTestCase's flush, much faster than
    a flush per example), and the cached ledger account ids forgotten."""
    tables = [
        name
        for name in connection.introspection.django_table_names(only_existing=True)
        if name not in _KEPT_TABLES
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE"
        )
    clear_account_id_cache()


# --- the world: one buyer, two sellers with their own signing keys, one order -----------------


@dataclass
class World:
    buyer: User
    sellers: list[User]
    signing_keys: list[tuple[str, str]]  # (key id, private PEM) per seller
    order: Order
    sub_order_ids: list[int]


def make_world(amounts: tuple[int, ...]) -> World:
    """Sellers with a fee plan and an Ed25519 signing key; an order awaiting payment that
    expires in 30 minutes (as a checkout session's order does), one sub-order per seller."""
    buyer = make_user(Role.BUYER)
    sellers, keys = [], []
    for _ in amounts:
        seller = make_user(Role.SELLER)
        SellerProfile.objects.create(
            user=seller,
            legal_name=f"Seller {seller.pk}",
            country="DE",
            default_currency="EUR",
            settlement_currency="EUR",
            fee_plan="standard",
        )
        private, public = crypto.generate_signing_key(crypto.ED25519)
        key = seller_key_upload(seller=seller, purpose="signing", public_pem=public, label="own")
        sellers.append(seller)
        keys.append((str(key.pk), private))
    order = Order.objects.create(
        number=f"M{buyer.pk:06d}",
        buyer=buyer,
        buyer_email=buyer.email,
        currency="EUR",
        total_minor=sum(amounts),
        expires_at=timezone.now() + dt.timedelta(minutes=30),
    )
    ids = []
    for seller, amount in zip(sellers, amounts, strict=True):
        sub = SubOrder.objects.create(
            order=order, seller=seller, amount_minor=amount, currency="EUR"
        )
        OrderLine.objects.create(
            sub_order=sub, title="Teapot", unit_price_minor=amount, quantity=1, amount_minor=amount
        )
        ids.append(sub.pk)
    return World(buyer=buyer, sellers=sellers, signing_keys=keys, order=order, sub_order_ids=ids)


# --- providers that fail as real ones do ------------------------------------------------------

HEALTHY, DOWN, LOST, REFUSE, SLOW = "healthy", "down", "lost", "refuse", "slow"
FAULTS = (HEALTHY, DOWN, LOST, REFUSE, SLOW)
SLOW_S = 0.05
_CALLS = ("authorize", "capture", "capture_part", "release_part", "void", "refund")


class FaultyProvider:
    """A real provider behind a switch. down: the call never reaches the far side; lost: the far
    side acts, the answer is lost (a timeout); refuse: the far side says no; slow: it answers,
    late (so that a concurrent step runs meanwhile). Everything else passes through."""

    mode = HEALTHY  # one switch for every provider (the model flips it)

    def __init__(self, real: PaymentProvider) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if name not in _CALLS:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            mode = FaultyProvider.mode
            if mode == DOWN:
                raise ProviderUnavailable(f"{self._real.name} is down (model)")
            if mode == REFUSE:
                raise ProviderError(f"{self._real.name} refused (model)", code="model_refused")
            if mode == SLOW:
                time.sleep(SLOW_S)
            result = real(*args, **kwargs)
            if mode == LOST:
                raise ProviderUnavailable(f"{self._real.name}: answer lost (model)")
            if mode == SLOW:
                time.sleep(SLOW_S)
            return result

        return call


def install_faulty_providers(monkeypatch) -> None:
    for name, provider in list(registry._providers.items()):
        monkeypatch.setitem(registry._providers, name, FaultyProvider(provider))
    FaultyProvider.mode = HEALTHY


# --- task messages, delivered by the model ----------------------------------------------------


@dataclass
class Message:
    name: str
    args: tuple
    attempts: int = 0


@dataclass
class TaskQueue:
    """What a broker would hold. Thread-safe: steps running in threads publish on commit."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, name: str, args: tuple) -> None:
        with self.lock:
            self.messages.append(Message(name, tuple(args)))

    def take(self, index: int, *, keep: bool = False) -> Message | None:
        with self.lock:
            if not self.messages:
                return None
            index %= len(self.messages)
            message = self.messages[index]
            if not keep:
                del self.messages[index]
            return message

    def put_back(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def __len__(self) -> int:
        return len(self.messages)


def install_task_queue(monkeypatch, queue: TaskQueue) -> None:
    """Every task message (delay/apply_async, on commit or not) goes to `queue`."""
    from celery.app.task import Task

    def apply_async(task, args=None, kwargs=None, **_options):
        queue.publish(task.name, tuple(args or ()) + tuple((kwargs or {}).values()))

    monkeypatch.setattr(Task, "apply_async", apply_async)


def wallet_transport(url: str, params: dict[str, str]) -> tuple[int, str]:
    """The sandbox wallet's POST to the platform, through the real URLconf and view."""
    response = Client().post(urlsplit(url).path, params)
    return response.status_code, response.content.decode()


# --- what each side says about the money ------------------------------------------------------

POSTED = ("posted", "post_pending")


def _closes(hold_ids: list) -> dict:
    return {
        row["pending_id"]: row
        for row in Transfer.objects.filter(pending_id__in=hold_ids).values(
            "pending_id", "kind", "amount_minor"
        )
    }


@dataclass(frozen=True)
class LedgerView:
    captured: int  # holds posted (escrow credited from the provider / bank receipts)
    held: int  # holds still pending
    refunded: int  # refunds paid back to the provider (posted)
    refunding: int  # refunds reserved, not yet posted or voided


def ledger_view(payment: Payment) -> LedgerView:
    sub_ids = list(SubOrder.objects.filter(order_id=payment.order_id).values_list("id", flat=True))
    hold_ids = [hold_transfer_id(payment.id, sub_id) for sub_id in sub_ids]
    holds = dict(
        Transfer.objects.filter(id__in=hold_ids, kind="pending").values_list("id", "amount_minor")
    )
    closes = _closes(list(holds))
    captured = sum(c["amount_minor"] for c in closes.values() if c["kind"] == "post_pending")
    held = sum(amount for hold_id, amount in holds.items() if hold_id not in closes)
    refunded = refunding = 0
    for refund in Refund.objects.filter(payment=payment).exclude(source=RefundSource.HOLD_RELEASE):
        reserve = refund_transfer_id(refund.pk, "reserve")
        steps = set(
            Transfer.objects.filter(pending_id=reserve).values_list("kind", flat=True)
        ) | set(Transfer.objects.filter(id=reserve).values_list("kind", flat=True))
        if "post_pending" in steps:
            refunded += refund.amount_minor
        elif "pending" in steps and "void_pending" not in steps:
            refunding += refund.amount_minor
    return LedgerView(captured=captured, held=held, refunded=refunded, refunding=refunding)


@dataclass(frozen=True)
class ProviderView:
    captured: int
    held: int  # authorised and neither captured nor released
    refunded: int
    known: bool = True  # False: the provider has no record (nothing reached it)


def provider_view(payment: Payment) -> ProviderView | None:
    """What the far side says it holds and took for this payment (None: bank transfers, whose
    money is the platform's own account, judged by the ledger's bank receipts)."""
    if payment.method == "bank_transfer":
        return None
    released = sum(
        SandboxOperation.objects.filter(
            processor=payment.provider, reference=payment.provider_reference, kind="release_part"
        ).values_list("amount_minor", flat=True)
    )
    if payment.method == "card":
        charge = SandboxCardCharge.objects.filter(reference=payment.provider_reference).first()
        if charge is None or not payment.provider_reference:
            charge = SandboxCardCharge.objects.filter(
                idempotency_key=f"payment:{payment.id}:authorize"
            ).first()
        if charge is None:
            return ProviderView(0, 0, 0, known=False)
        held = (
            charge.amount_minor - charge.captured_minor - released
            if charge.status == "authorized"
            else 0
        )
        return ProviderView(charge.captured_minor, held, charge.refunded_minor)
    trade = SandboxWalletTrade.objects.filter(
        provider=payment.provider, out_trade_no=str(payment.id)
    ).first()
    if trade is None:
        return ProviderView(0, 0, 0, known=False)
    held = (
        trade.amount_minor - trade.captured_minor - released
        if trade.status == "TRADE_SUCCESS"
        else 0
    )
    return ProviderView(trade.captured_minor, held, trade.refunded_minor)


def bank_refunded(payment: Payment) -> int:
    """What the bank paid back for a bank-transfer payment (its refund operations)."""
    references = {r for r in (payment.provider_reference, payment.bank_reference) if r}
    return sum(
        SandboxOperation.objects.filter(
            processor=payment.provider, kind="refund", reference__in=references
        ).values_list("amount_minor", flat=True)
    )


@dataclass(frozen=True)
class Escrow:
    """One sub-order's money in platform:escrow, from the ledger's transfers."""

    credited: int  # posted into escrow (captures)
    refunded: int  # posted out of escrow back to the buyer
    released: int  # posted out of escrow to the seller and the fee
    other_out: int  # posted out of escrow for any other reason (none expected)
    reserved: int  # pending debits of escrow (refunds in flight)
    pending_holds: int  # pending credits (authorised, not captured)

    @property
    def balance(self) -> int:
        return self.credited - self.refunded - self.released - self.other_out


def escrow_by_sub_order() -> tuple[dict[int, Escrow], int]:
    """Escrow per sub-order (by the transfers' metadata) and the escrow account's posted balance
    (to check that no transfer touches escrow without naming its sub-order)."""
    accounts = list(Account.objects.filter(code=chart.ESCROW).values_list("id", flat=True))
    if not accounts:
        return {}, 0
    rows = Transfer.objects.filter(debit_account_id__in=accounts) | Transfer.objects.filter(
        credit_account_id__in=accounts
    )
    closed = set(
        Transfer.objects.filter(pending_id__isnull=False).values_list("pending_id", flat=True)
    )
    sums: dict[int, dict[str, int]] = {}
    account_balance = 0
    for t in rows.values(
        "id", "kind", "amount_minor", "debit_account_id", "credit_account_id", "reason", "metadata"
    ):
        sub = (t["metadata"] or {}).get("sub_order")
        key = int(sub) if sub is not None else -1
        s = sums.setdefault(key, dict.fromkeys(Escrow.__dataclass_fields__, 0))
        into = t["credit_account_id"] in accounts
        amount = t["amount_minor"]
        if t["kind"] == "pending":
            if t["id"] not in closed:
                s["pending_holds" if into else "reserved"] += amount
            continue
        if t["kind"] not in POSTED:
            continue
        account_balance += amount if into else -amount
        if into:
            s["credited"] += amount
        elif t["reason"] == "refund_paid":
            s["refunded"] += amount
        elif t["reason"] in ("escrow_released", "platform_fee"):
            s["released"] += amount
        else:
            s["other_out"] += amount
    return {k: Escrow(**v) for k, v in sums.items()}, account_balance


def succeeded_escrow_refunds(sub_order_id: int) -> int:
    return sum(
        Refund.objects.filter(
            sub_order_id=sub_order_id, status=RefundStatus.SUCCEEDED, source=RefundSource.ESCROW
        ).values_list("amount_minor", flat=True)
    )


def snapshot() -> tuple:
    """The platform's side of everything a step may change (a refusal must change none of it)."""
    from payments.fulfilment.models import Dispute
    from payments.orders.models import OrderEvent

    return (
        Transfer.objects.count(),
        tuple(SubOrder.objects.order_by("id").values_list("id", "status", "captured_minor")),
        tuple(Payment.objects.order_by("id").values_list("id", "status", "captured_minor")),
        tuple(Refund.objects.order_by("id").values_list("id", "status")),
        tuple(Dispute.objects.order_by("id").values_list("id", "status")),
        OrderEvent.objects.count(),
    )


def run_threads(*functions: Callable[[], Any]) -> list[Any]:
    """tests.concurrency.run_together: each on its own connection, started at one barrier."""
    from tests.concurrency import run_together

    return run_together(*functions, timeout_s=60)
