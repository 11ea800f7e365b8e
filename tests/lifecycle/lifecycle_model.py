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

from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import Role, SellerProfile, User
from accounts.services import seller_key_upload
from core import crypto
from ledger import chart
from ledger.services import clear_account_id_cache
from payments.flows.ledger import hold_transfer_id
from payments.flows.models import Payment
from payments.fulfilment.models import Refund, RefundSource, RefundStatus
from payments.fulfilment.refunds import refund_transfer_id
from payments.models import Order, OrderLine, SubOrder
from payments.providers import bank_transfer, registry
from payments.providers.base import PaymentProvider, ProviderError, ProviderUnavailable
from payments.providers.models import SandboxCardCharge, SandboxOperation, SandboxWalletTrade
from payments.providers.rf_reference import normalize
from tests.payments.pay_factories import make_user

# Tables the truncate leaves alone: what migrations write once and nothing changes.
_KEPT_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def reset_database() -> None:
    """Every app table emptied, and the cached ledger account ids forgotten.

    One transaction of DELETEs with triggers off (session_replication_role = replica: the
    ledger's append-only triggers and the foreign-key checks), an order of magnitude faster than
    a TRUNCATE of ~90 tables per example; TRUNCATE (what TransactionTestCase's flush does) where
    the role may not switch triggers off."""
    tables = [
        connection.ops.quote_name(name)
        for name in connection.introspection.django_table_names(only_existing=True)
        if name not in _KEPT_TABLES
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            cursor.execute("TRUNCATE " + ", ".join(tables) + " CASCADE")
        else:
            cursor.execute("; ".join(f"DELETE FROM {table}" for table in tables))
    clear_account_id_cache()


# Shorter than a 3-D Secure challenge (15 min) or a wallet approval (30 min): the order may expire
# while the buyer is still paying (a checkout session's order has its session's deadline).
ORDER_WINDOW = dt.timedelta(minutes=10)


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
    expires in ORDER_WINDOW (as a checkout session's order does), one sub-order per seller."""
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
        expires_at=timezone.now() + ORDER_WINDOW,
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


# The messages that move money or a payment's state; the others (order event fan-out: documents,
# which every reader makes on demand, webhooks, emails) are dropped as published.
MONEY_TASKS = frozenset(
    {
        "payments.capture_automatic",
        "payments.refund_execute",
        "payments.sandbox_wallet_deliver_notice",
        "payments.release_at_provider",
    }
)


def install_task_queue(monkeypatch, queue: TaskQueue) -> None:
    """Every money task message (delay/apply_async, on commit or not) goes to `queue`."""
    from celery.app.task import Task

    def apply_async(task, args=None, kwargs=None, **_options):
        if task.name in MONEY_TASKS:
            queue.publish(task.name, tuple(args or ()) + tuple((kwargs or {}).values()))

    monkeypatch.setattr(Task, "apply_async", apply_async)


def wallet_transport(url: str, params: dict[str, str]) -> tuple[int, str]:
    """The sandbox wallet's POST to the platform, through the real URLconf and view."""
    response = Client().post(urlsplit(url).path, params)
    return response.status_code, response.content.decode()


# --- what each side says about the money ------------------------------------------------------

POSTED = ("posted", "post_pending")


def _fetch(sql: str, params: list | tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True)
class LedgerView:
    captured: int  # holds posted (escrow credited from the provider / bank receipts)
    held: int  # holds still pending
    refunded: int  # refunds paid back to the provider (posted)
    refunding: int  # refunds reserved, not yet posted or voided


_HOLDS_SQL = """
SELECT h.amount_minor, c.kind, c.amount_minor
  FROM ledger_transfer h LEFT JOIN ledger_transfer c ON c.pending_id = h.id
 WHERE h.id = ANY(%s) AND h.kind = 'pending'"""
_RESERVES_SQL = """
SELECT r.id, coalesce((SELECT c.kind FROM ledger_transfer c WHERE c.pending_id = r.id), 'open')
  FROM ledger_transfer r WHERE r.id = ANY(%s) AND r.kind = 'pending'"""


def ledger_view(payment: Payment, sub_order_ids: list[int]) -> LedgerView:
    holds = _fetch(_HOLDS_SQL, [[hold_transfer_id(payment.id, sub_id) for sub_id in sub_order_ids]])
    captured = sum(closed for _amount, kind, closed in holds if kind == "post_pending")
    held = sum(amount for amount, kind, _closed in holds if kind is None)
    refunds = dict(
        Refund.objects.filter(payment=payment)
        .exclude(source=RefundSource.HOLD_RELEASE)
        .values_list("id", "amount_minor")
    )
    reserves = {refund_transfer_id(refund_id, "reserve"): refund_id for refund_id in refunds}
    refunded = refunding = 0
    for reserve_id, state in _fetch(_RESERVES_SQL, [list(reserves)]):
        amount = refunds[reserves[reserve_id]]
        if state == "post_pending":
            refunded += amount
        elif state == "open":
            refunding += amount
    return LedgerView(captured=captured, held=held, refunded=refunded, refunding=refunding)


@dataclass(frozen=True)
class ProviderView:
    captured: int
    held: int  # authorised and neither captured nor released
    refunded: int


def provider_view(payment: Payment) -> ProviderView | None:
    """What the far side says it holds and took for this payment (None: a bank transfer, whose
    money is in the platform's own account: see bank_refunded)."""
    if payment.method == "bank_transfer":
        return None
    if payment.method == "card":
        record = (
            SandboxCardCharge.objects.filter(idempotency_key=f"payment:{payment.id}:authorize")
            .values("reference", "status", "amount_minor", "captured_minor", "refunded_minor")
            .first()
        )
        authorized = "authorized"
    else:
        record = (
            SandboxWalletTrade.objects.filter(
                provider=payment.provider, out_trade_no=str(payment.id)
            )
            .values("trade_no", "status", "amount_minor", "captured_minor", "refunded_minor")
            .first()
        )
        authorized = "TRADE_SUCCESS"
        if record is not None:
            record["reference"] = record.pop("trade_no")
    if record is None:
        return ProviderView(0, 0, 0)  # nothing reached the far side
    held = 0
    if record["status"] == authorized:
        released = sum(
            SandboxOperation.objects.filter(
                processor=payment.provider, reference=record["reference"], kind="release_part"
            ).values_list("amount_minor", flat=True)
        )
        held = record["amount_minor"] - record["captured_minor"] - released
    return ProviderView(record["captured_minor"], held, record["refunded_minor"])


def bank_refunded(payment: Payment) -> int:
    """What the bank paid back for a bank-transfer payment (its payouts to the buyer)."""
    return sum(
        SandboxOperation.objects.filter(
            processor=bank_transfer.SANDBOX_PROCESSOR,
            kind="refund",
            reference=normalize(payment.bank_reference),
        ).values_list("amount_minor", flat=True)
    )


@dataclass(frozen=True)
class Escrow:
    """One sub-order's money in platform:escrow, from the ledger's transfers."""

    credited: int = 0  # posted into escrow (captures)
    refunded: int = 0  # posted out of escrow back to the buyer
    released: int = 0  # posted out of escrow to the seller and the fee
    other_out: int = 0  # posted out of escrow for any other reason (none expected)
    reserved: int = 0  # pending debits of escrow (refunds in flight)
    pending_holds: int = 0  # pending credits (authorised, not captured)

    @property
    def balance(self) -> int:
        return self.credited - self.refunded - self.released - self.other_out


_ESCROW_SQL = """
WITH e AS (SELECT array_agg(id) AS ids FROM ledger_account WHERE code = %s),
t AS (
  SELECT tr.*, tr.credit_account_id = ANY(e.ids) AS into_escrow,
         tr.kind IN ('posted', 'post_pending') AS is_posted,
         tr.kind = 'pending'
           AND NOT EXISTS (SELECT 1 FROM ledger_transfer c WHERE c.pending_id = tr.id) AS is_open
    FROM ledger_transfer tr, e
   WHERE tr.debit_account_id = ANY(e.ids) OR tr.credit_account_id = ANY(e.ids))
SELECT coalesce((metadata ->> 'sub_order')::bigint, -1),
  sum(amount_minor) FILTER (WHERE is_posted AND into_escrow),
  sum(amount_minor) FILTER (WHERE is_posted AND NOT into_escrow AND reason = 'refund_paid'),
  sum(amount_minor) FILTER (WHERE is_posted AND NOT into_escrow
                              AND reason IN ('escrow_released', 'platform_fee')),
  sum(amount_minor) FILTER (WHERE is_posted AND NOT into_escrow
                              AND reason NOT IN ('refund_paid', 'escrow_released', 'platform_fee')),
  sum(amount_minor) FILTER (WHERE is_open AND NOT into_escrow),
  sum(amount_minor) FILTER (WHERE is_open AND into_escrow)
  FROM t GROUP BY 1"""


def escrow_by_sub_order() -> dict[int, Escrow]:
    """Escrow per sub-order, by the transfers' metadata (-1: transfers that name none)."""
    return {
        row[0]: Escrow(*(int(value or 0) for value in row[1:]))
        for row in _fetch(_ESCROW_SQL, [chart.ESCROW])
    }


def escrow_account_balance() -> int:
    """platform:escrow's posted balance by its own counters (deltas included)."""
    rows = _fetch(
        """SELECT coalesce(sum(b), 0) FROM (
             SELECT credits_posted - debits_posted AS b FROM ledger_account WHERE code = %s
             UNION ALL
             SELECT d.credits_posted - d.debits_posted FROM ledger_balancedelta d
               JOIN ledger_account a ON a.id = d.account_id WHERE a.code = %s) x""",
        [chart.ESCROW, chart.ESCROW],
    )
    return int(rows[0][0])


def succeeded_escrow_refunds() -> dict[int, int]:
    return dict(
        Refund.objects.filter(status=RefundStatus.SUCCEEDED, source=RefundSource.ESCROW)
        .values("sub_order_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("sub_order_id", "total")
    )


_SNAPSHOT_SQL = """
SELECT (SELECT count(*) FROM ledger_transfer),
       (SELECT string_agg(concat_ws(':', id, status, captured_minor), ',' ORDER BY id)
          FROM payments_suborder),
       (SELECT string_agg(concat_ws(':', id, status, captured_minor), ',' ORDER BY id)
          FROM payments_payment),
       (SELECT string_agg(concat_ws(':', id, status), ',' ORDER BY id) FROM payments_refund),
       (SELECT string_agg(concat_ws(':', id, status), ',' ORDER BY id) FROM payments_dispute),
       (SELECT count(*) FROM payments_orderevent),
       (SELECT string_agg(concat_ws(':', id, status, captured_minor, refunded_minor), ','
                          ORDER BY id) FROM payments_sandboxcardcharge),
       (SELECT string_agg(concat_ws(':', id, status, captured_minor, refunded_minor), ','
                          ORDER BY id) FROM payments_sandboxwallettrade),
       (SELECT count(*) FROM payments_sandboxoperation)"""
PLATFORM = slice(0, 6)  # the platform's part of a snapshot; the rest is the providers'


def snapshot() -> tuple:
    """Everything a step may change, in one query: the platform's transfers, sub-orders,
    payments, refunds, disputes and order events (snapshot()[PLATFORM]: a refusal must change
    none of it), then what the sandbox providers hold, took and did."""
    return _fetch(_SNAPSHOT_SQL)[0]


def run_threads(*functions: Callable[[], Any]) -> list[Any]:
    """tests.concurrency.run_together: each on its own connection, started at one barrier."""
    from tests.concurrency import run_together

    return run_together(*functions, timeout_s=60)
