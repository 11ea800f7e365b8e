"""Automatic capture (capture_method "automatic", Stripe's default): one API call authorises and
captures into escrow; a payment authorised later (3-D Secure) or whose capture failed is captured
by the task, and the sweeper re-drives it.

The sandbox card processor does a "sale" (ProviderFeatures.captures_with_authorize): asked with
AuthorizeRequest(capture=True) it authorises and captures in one call, and the payment goes
created -> authorized -> captured in one statement (fast_authorize.apply_authorized with
capture). A provider without the feature is authorised, then captured."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace

import pytest
from celery.app.task import Task as CeleryTask
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from accounts.services import api_key_create
from core.models import IdempotencyKey
from ledger import chart
from ledger.errors import BatchFailed, LedgerError
from ledger.models import Transfer
from ledger.selectors import account_balance, account_by_code
from ledger.services import TransferRequest, create_transfers
from payments import conf
from payments.flows import authorize, capture, expiry, provider_events, start_plpgsql
from payments.flows import authorize_plpgsql as fast_authorize
from payments.flows.ledger import hold_transfer_id, transfer_id
from payments.flows.transitions import IllegalTransition
from payments.models import Order, OrderStatus, Payment, PaymentEvent, SubOrder
from payments.orders.models import OrderEvent
from payments.providers.base import AuthorizeRequest, ProviderResult, ProviderUnavailable
from payments.providers.models import SandboxCardCharge, SandboxOperation
from payments.providers.registry import get_provider
from payments.providers.sandbox_card import SandboxCardProcessor, SandboxCardProvider
from payments.vault.cards import validate_card
from payments.vault.models import VaultedCard
from payments.vault.services import vault_store_card
from tests.concurrency import run_together
from tests.payments.fast_path_snapshots import escrow_balances, relative_names
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import DECLINE, SUCCESS, TEST_CVC, THREE_DS

pytestmark = pytest.mark.django_db
API = "/api/v1/payments"  # no trailing slash: the one path convention


@pytest.fixture
def no_sale(monkeypatch):
    """The sandbox card as a processor that cannot authorise and capture in one call: the
    payment is authorised, then captured by a second call."""
    monkeypatch.setattr(
        SandboxCardProvider,
        "features",
        replace(SandboxCardProvider.features, captures_with_authorize=False),
    )


def pay(client, order, number=SUCCESS, **extra):
    body = {
        "order": str(order.id),
        "method": "card",
        "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": TEST_CVC},
        **extra,
    }
    return client.post(API, json.dumps(body), content_type="application/json")


def escrow() -> tuple[int, int]:
    balance = account_balance(account_by_code(currency="EUR", code="platform:escrow").id)
    return balance.credits_pending, balance.credits_posted


def test_one_call_authorises_and_captures_into_escrow(buyer_client, order):
    response = pay(buyer_client, order, capture_method="automatic")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["captured_minor"], body["amount_minor"]) == (
        "captured",
        4000,
        4000,
    )
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == "captured" and payment.captured_minor == 4000
    assert list(
        PaymentEvent.objects.filter(payment=payment).order_by("id").values_list("to_status")
    ) == [("created",), ("authorized",), ("captured",)]
    assert escrow() == (0, 4000)  # posted, nothing left pending
    assert SandboxCardCharge.objects.get(reference=payment.provider_reference).status == "captured"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert sorted(
        SubOrder.objects.filter(order=order).values_list("captured_minor", flat=True)
    ) == [
        1500,
        2500,
    ]
    kinds = list(
        OrderEvent.objects.filter(order=order).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["payment.authorized", "order.paid", "order.paid", "payment.captured"]


def test_manual_is_the_default_and_leaves_the_money_authorised(buyer_client, order):
    response = pay(buyer_client, order)
    assert response.json()["status"] == "authorized"
    assert escrow() == (4000, 0)


def test_an_unknown_capture_method_is_refused_with_nothing_written(buyer_client, order):
    response = pay(buyer_client, order, capture_method="later")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "capture_method"
    assert not Payment.objects.filter(order=order).exists()


def api_client(buyer) -> Client:
    _key, secret = api_key_create(owner=buyer, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def api_pay(client, order, number=SUCCESS, key=None):
    """The automatic payment as an API client makes it (Bearer key, Idempotency-Key)."""
    return client.post(
        API,
        json.dumps(
            {
                "order": str(order.id),
                "method": "card",
                "capture_method": "automatic",
                "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            }
        ),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, tuple]]:
    """Every Celery task published (any task, as (name, args)); nothing reaches a broker."""
    sent: list[tuple[str, tuple]] = []

    def apply_async(self, args=None, kwargs=None, **options):
        sent.append((self.name, tuple(args or ())))

    monkeypatch.setattr(CeleryTask, "apply_async", apply_async)
    return sent


@pytest.mark.django_db(transaction=True)
def test_the_automatic_payment_call_is_6_statements_and_one_task(settings, published):
    buyer = make_user(Role.BUYER)
    client = api_client(buyer)
    assert api_pay(client, make_order(buyer=buyer)).status_code == 201  # warm: account ids, key
    order = make_order(buyer=buyer)
    published.clear()
    with CaptureQueriesContext(connection) as queries:
        response = api_pay(client, order)
    assert response.json()["status"] == "captured"
    statements = [q["sql"] for q in queries.captured_queries]
    # Idempotency claim, API key, start, sale (charge INSERT), apply the sale, idempotency
    # answer: one statement per step, none per row, no BEGIN/SAVEPOINT. No vault read: the card
    # is handed to the processor in memory.
    assert len(statements) <= 6, "\n".join(s[:120] for s in statements)
    assert not any("payments_vaultedcard" in sql for sql in statements)
    assert sum("payments_start(" in sql for sql in statements) == 1
    assert sum("payments_authorize(" in sql for sql in statements) == 1
    assert not any(
        name in sql
        for sql in statements
        for name in ("payments_capture(", "payments_sandbox_capture")
    )
    assert not any(sql.startswith(("BEGIN", "SAVEPOINT")) for sql in statements)
    # One task after commit: the dispatch of all four order events (it seals the documents).
    events = OrderEvent.objects.filter(order=order).order_by("id")
    assert published == [("payments.dispatch_order_events", ([e.id for e in events],))]
    assert [e.kind for e in events] == [
        "payment.authorized",
        "order.paid",
        "order.paid",
        "payment.captured",
    ]


def test_a_capture_that_fails_leaves_it_authorised_and_the_task_captures_later(
    buyer_client, order, monkeypatch, no_sale
):
    enqueued = []
    monkeypatch.setattr(
        capture, "enqueue_automatic_capture", lambda payment_id: enqueued.append(payment_id)
    )
    real_capture = SandboxCardProcessor.capture

    def down(self, **kwargs):
        raise ProviderUnavailable("processor down")

    monkeypatch.setattr(SandboxCardProcessor, "capture", down)
    response = pay(buyer_client, order, capture_method="automatic")

    assert response.status_code == 201
    assert response.json()["status"] == "authorized"
    assert [str(p) for p in enqueued] == [response.json()["id"]]
    monkeypatch.setattr(SandboxCardProcessor, "capture", real_capture)
    assert capture.payment_capture_automatic(payment_id=enqueued[0]) is True
    assert Payment.objects.get(pk=enqueued[0]).status == "captured"
    assert escrow() == (0, 4000)
    # Replayed (a redelivered task): nothing more to do.
    assert capture.payment_capture_automatic(payment_id=enqueued[0]) is False


def test_the_sweeper_captures_what_a_lost_task_left(buyer_client, order, monkeypatch, no_sale):
    real_capture = SandboxCardProcessor.capture
    monkeypatch.setattr(capture, "enqueue_automatic_capture", lambda payment_id: None)
    monkeypatch.setattr(
        SandboxCardProcessor,
        "capture",
        lambda self, **kw: (_ for _ in ()).throw(ProviderUnavailable("down")),
    )
    payment_id = pay(buyer_client, order, capture_method="automatic").json()["id"]
    assert Payment.objects.get(pk=payment_id).status == "authorized"
    monkeypatch.setattr(SandboxCardProcessor, "capture", real_capture)
    Payment.objects.filter(pk=payment_id).update(
        updated_at=Payment.objects.get(pk=payment_id).updated_at.replace(year=2020)
    )
    counts = expiry.payments_expire_due()
    assert counts["captured"] == 1
    assert Payment.objects.get(pk=payment_id).status == "captured"


def test_three_d_secure_then_the_task_captures(buyer_client, order, monkeypatch):
    enqueued = []
    monkeypatch.setattr(
        capture, "enqueue_automatic_capture", lambda payment_id: enqueued.append(payment_id)
    )
    body = pay(buyer_client, order, THREE_DS, capture_method="automatic").json()
    assert body["status"] == "requires_action"
    payment = provider_events.payment_complete_challenge(
        payment_id=body["id"], outcome="pass", actor="buyer"
    )
    assert payment.status == "authorized"
    assert [str(p) for p in enqueued] == [body["id"]]
    assert capture.payment_capture_automatic(payment_id=body["id"]) is True
    assert Payment.objects.get(pk=body["id"]).status == "captured"


def test_manual_payments_are_never_captured_by_the_task(buyer_client, order):
    payment_id = pay(buyer_client, order).json()["id"]
    assert capture.payment_capture_automatic(payment_id=payment_id) is False
    assert Payment.objects.get(pk=payment_id).status == "authorized"


def test_a_declined_card_fails_as_before(buyer_client, order):
    response = pay(buyer_client, order, DECLINE, capture_method="automatic")
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["failure_code"], body["captured_minor"]) == (
        "failed",
        "card_declined",
        0,
    )
    charge = SandboxCardCharge.objects.get()
    assert (charge.status, charge.captured_minor) == ("failed", 0)
    assert not Transfer.objects.exists()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAYMENT_FAILED


def test_three_d_secure_is_not_a_sale(buyer_client, order, monkeypatch):
    monkeypatch.setattr(capture, "enqueue_automatic_capture", lambda payment_id: None)
    body = pay(buyer_client, order, THREE_DS, capture_method="automatic").json()
    charge = SandboxCardCharge.objects.get()
    assert (body["status"], charge.status, charge.captured_minor) == (
        "requires_action",
        "requires_action",
        0,
    )
    provider_events.payment_complete_challenge(payment_id=body["id"], outcome="pass", actor="buyer")
    charge.refresh_from_db()
    assert (charge.status, charge.captured_minor) == ("authorized", 0)  # captured by the task
    assert escrow() == (4000, 0)


# --- the processor's sale ----------------------------------------------------------------------


def _sale_request(key="k1", cvc=TEST_CVC, number=SUCCESS):
    token = vault_store_card(
        card=validate_card(
            number=number, exp_month=12, exp_year=2030, cvc=cvc, today=dt.date(2026, 1, 1)
        )
    ).token
    return AuthorizeRequest(
        payment_id=str(uuid.uuid4()),
        amount_minor=4000,
        currency="EUR",
        idempotency_key=key,
        card_token=token,
        cvc=cvc,
        capture=True,
    )


def test_a_retried_processing_error_becomes_a_sale():
    provider = get_provider("sandbox_card")
    request = _sale_request()
    SandboxCardCharge.objects.create(
        reference="ch_retry",
        idempotency_key=request.idempotency_key,
        card_token=request.card_token,
        brand="visa",
        last4="4242",
        amount_minor=4000,
        currency="EUR",
        status="failed",
        failure_code="processing_error",
        attempts=1,
    )
    result = provider.authorize(request)
    assert (result.status, result.reference, result.captured_minor) == (
        "captured",
        "ch_retry",
        4000,
    )
    charge = SandboxCardCharge.objects.get()
    assert (charge.status, charge.captured_minor, charge.attempts) == ("captured", 4000, 2)


# --- the same rows either way -------------------------------------------------------------------


def _snapshot(client, order, published) -> dict:
    """Pay the order automatically through the API; everything it wrote, ids made relative."""
    before = escrow_balances()
    published.clear()
    started_at = timezone.now()
    response = api_pay(client, order)
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(order=order)
    subs = list(SubOrder.objects.filter(order=order).order_by("id"))
    subs_named, norm = relative_names(payment, order, subs)
    ids_named = {}
    for i, sub in enumerate(subs):
        for step in ("hold", "capture"):
            ids_named[transfer_id(payment.id, sub.id, step)] = f"<{step}{i}>"

    body = response.json()
    for key in ("id", "order", "order_number", "created_at", "updated_at"):
        body.pop(key)
    fields = {f.attname: getattr(payment, f.attname) for f in Payment._meta.concrete_fields}
    assert started_at <= fields.pop("created_at") <= fields.pop("updated_at") <= timezone.now()
    assert fields.pop("provider_reference").startswith("ch_")
    vaulted = VaultedCard.objects.get(pk=fields.pop("vaulted_card_id"))
    assert fields["details"]["card"].pop("token") == vaulted.token
    # The Idempotency-Key's scope, by which a retry of this request finds this payment.
    key = IdempotencyKey.objects.get(path=API, status="completed")
    assert fields["details"].pop("request_key") == key.scope_digest
    for name in ("id", "order_id"):
        fields.pop(name)
    charge = SandboxCardCharge.objects.get(idempotency_key=f"payment:{payment.id}:authorize")
    events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    for event in events:
        assert started_at <= event.created_at <= timezone.now()
        if event.kind == "order.paid":
            sub = next(s for s in subs if s.id == event.sub_order_id)
            assert event.data.pop("accept_by") == sub.accept_by.isoformat()
    window = conf.acceptance_window()
    for sub in subs:
        assert started_at + window <= sub.accept_by <= timezone.now() + window
        assert started_at <= sub.updated_at <= timezone.now()
    transfers = list(
        Transfer.objects.filter(reference=f"payment:{payment.id}").order_by("created_at", "id")
    )
    after = escrow_balances()
    order.refresh_from_db()
    return {
        "response": norm(body),
        "payment": fields,
        "charge": (
            charge.status,
            charge.attempts,
            charge.amount_minor,
            charge.currency,
            charge.failure_code,
            charge.captured_minor,
            charge.refunded_minor,
            charge.challenge_expires_at,
            charge.card_token == vaulted.token,
            charge.reference == payment.provider_reference,
        ),
        "operations": list(
            SandboxOperation.objects.filter(reference=charge.reference).values_list("kind")
        ),
        "payment_events": [
            (e.from_status, e.to_status, e.actor, e.reason, e.data)
            for e in PaymentEvent.objects.filter(payment=payment).order_by("id")
        ],
        "order_events": [
            (e.kind, e.actor, subs_named.get(e.sub_order_id), norm(e.data), e.dispatched_at)
            for e in events
        ],
        "published": published == [("payments.dispatch_order_events", ([e.id for e in events],))],
        "order": (order.status, order.payment_failure_reason, order.stock_reserved),
        "sub_orders": [
            (
                s.status,
                s.amount_minor,
                s.currency,
                s.captured_minor,
                s.accepted_at,
                ids_named[s.escrow_transfer_id],
            )
            for s in subs
        ],
        "transfers": [
            (
                ids_named[t.id],
                t.kind,
                t.debit_account.code,
                t.credit_account.code,
                t.amount_minor,
                t.currency,
                t.reason,
                ids_named.get(t.pending_id),
                t.timeout_at,
                norm(t.metadata),
            )
            for t in transfers
        ],
        "balance_change": {
            code: tuple(
                a - b for a, b in zip(after[code], before.get(code, (0, 0, 0, 0)), strict=True)
            )
            for code in after
        },
    }


def _expected(actor: str) -> dict:
    """What an automatic card payment (a sale) wrote when the Python path (_apply_sale, two
    payment_transitions) was the reference it was held equal to; pinned when that path was
    removed."""
    return {
        "balance_change": {
            "external:sandbox_card": (0, 4000, 0, 0),
            "platform:escrow": (0, 0, 0, 4000),
        },
        "charge": ("captured", 1, 4000, "EUR", "", 4000, 0, None, True, True),
        "operations": [],
        "order": ("paid", "", False),
        "order_events": [
            (
                "payment.authorized",
                actor,
                None,
                {
                    "amount_minor": 4000,
                    "currency": "EUR",
                    "method": "card",
                    "order_id": "<order>",
                    "payment_id": "<payment>",
                    "status": "authorized",
                    "sub_orders": [
                        {"amount_minor": 1500, "id": "<sub0>", "seller_id": "<seller0>"},
                        {"amount_minor": 2500, "id": "<sub1>", "seller_id": "<seller1>"},
                    ],
                },
                None,
            ),
            (
                "order.paid",
                "system",
                "<sub0>",
                {
                    "amount_minor": 1500,
                    "currency": "EUR",
                    "seller": "<seller0>",
                    "sub_order": "<sub0>",
                },
                None,
            ),
            (
                "order.paid",
                "system",
                "<sub1>",
                {
                    "amount_minor": 2500,
                    "currency": "EUR",
                    "seller": "<seller1>",
                    "sub_order": "<sub1>",
                },
                None,
            ),
            (
                "payment.captured",
                actor,
                None,
                {
                    "amount_minor": 4000,
                    "captured_minor": 4000,
                    "currency": "EUR",
                    "method": "card",
                    "order_id": "<order>",
                    "payment_id": "<payment>",
                    "status": "captured",
                    "sub_orders": [
                        {"amount_minor": 1500, "id": "<sub0>", "seller_id": "<seller0>"},
                        {"amount_minor": 2500, "id": "<sub1>", "seller_id": "<seller1>"},
                    ],
                },
                None,
            ),
        ],
        "payment": {
            "amount_minor": 4000,
            "bank_reference": None,
            "captured_minor": 4000,
            "currency": "EUR",
            "details": {
                "capture_method": "automatic",
                "card": {"brand": "visa", "exp_month": 12, "exp_year": 2034, "last4": "4242"},
                "return_url": "",
            },
            "expires_at": None,
            "failure_code": "",
            "failure_message": "",
            "method": "card",
            "provider": "sandbox_card",
            "provider_attempts": 1,
            "status": "captured",
        },
        "payment_events": [
            ("", "created", actor, "started", {}),
            (
                "created",
                "authorized",
                actor,
                "authorised by the provider",
                {"failure_code": "", "provider_status": "captured"},
            ),
            ("authorized", "captured", actor, "captured", {"captured_minor": 4000}),
        ],
        "published": True,
        "response": {
            "amount_minor": 4000,
            "bank_transfer": None,
            "captured_minor": 4000,
            "card": {"brand": "visa", "exp_month": 12, "exp_year": 2034, "last4": "4242"},
            "currency": "EUR",
            "expires_at": None,
            "failure_code": "",
            "failure_message": "",
            "method": "card",
            "next_action": None,
            "provider": "sandbox_card",
            "status": "captured",
            "wallet": None,
        },
        "sub_orders": [
            ("awaiting_acceptance", 1500, "EUR", 1500, None, "<hold0>"),
            ("awaiting_acceptance", 2500, "EUR", 2500, None, "<hold1>"),
        ],
        "transfers": [
            (
                "<hold0>",
                "pending",
                "external:sandbox_card",
                "platform:escrow",
                1500,
                "EUR",
                "payment_authorized",
                None,
                None,
                {"order": "<order>", "seller": "<seller0>", "sub_order": "<sub0>"},
            ),
            (
                "<hold1>",
                "pending",
                "external:sandbox_card",
                "platform:escrow",
                2500,
                "EUR",
                "payment_authorized",
                None,
                None,
                {"order": "<order>", "seller": "<seller1>", "sub_order": "<sub1>"},
            ),
            (
                "<capture0>",
                "post_pending",
                "external:sandbox_card",
                "platform:escrow",
                1500,
                "EUR",
                "payment_captured",
                "<hold0>",
                None,
                {"order": "<order>", "sub_order": "<sub0>"},
            ),
            (
                "<capture1>",
                "post_pending",
                "external:sandbox_card",
                "platform:escrow",
                2500,
                "EUR",
                "payment_captured",
                "<hold1>",
                None,
                {"order": "<order>", "sub_order": "<sub1>"},
            ),
        ],
    }


@pytest.mark.django_db(transaction=True)
def test_the_sale_writes_these_rows(published):
    buyer = make_user(Role.BUYER)
    client = api_client(buyer)
    sellers = [make_user(Role.SELLER), make_user(Role.SELLER)]
    with CaptureQueriesContext(connection) as queries:
        written = _snapshot(client, make_order(buyer=buyer, sellers=sellers), published)
    assert any("payments_authorize(" in q["sql"] for q in queries.captured_queries)
    assert written == _expected(f"buyer:{buyer.pk}")


# --- the cases that used to fall back to the Python path: the function's now --------------------


def _started(order):
    return start_plpgsql.start_payment(
        order_id=order.pk,
        method="card",
        provider="sandbox_card",
        actor="buyer:1",
        card=validate_card(
            number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
        ),
        return_url="",
        capture_method="automatic",
    )


def _sale(started, **kwargs):
    payment, _outcome = fast_authorize.apply_authorized(
        payment_id=started.payment.id,
        reference="ch_test",
        actor="buyer:1",
        reason="authorised by the provider",
        data={"provider_status": "captured", "failure_code": ""},
        capture=True,
        captured_minor=4000,
        started=started,
        **kwargs,
    )
    return payment


def _sold(payment_id):
    return authorize.apply_authorize_result(
        payment_id=payment_id,
        result=ProviderResult(status="captured", reference="ch_test", captured_minor=4000),
        actor="buyer:1",
    )


def _nothing_written(payment_id, status="created") -> None:
    assert Payment.objects.get(pk=payment_id).status == status
    assert PaymentEvent.objects.filter(payment_id=payment_id).count() == 1
    assert not Transfer.objects.filter(reference=f"payment:{payment_id}").exists()
    assert not OrderEvent.objects.exists()


def test_sub_orders_other_than_the_requests_were_built_for_are_read_again(order):
    started = _started(order)
    first, second = SubOrder.objects.filter(order=order).order_by("id")
    SubOrder.objects.filter(pk=first.pk).update(amount_minor=2500)
    SubOrder.objects.filter(pk=second.pk).update(amount_minor=1500)
    payment = _sale(started)
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    posted = dict(
        Transfer.objects.filter(kind="post_pending", reference=f"payment:{payment.id}").values_list(
            "pending_id", "amount_minor"
        )
    )
    assert posted == {
        hold_transfer_id(payment.id, first.id): 2500,
        hold_transfer_id(payment.id, second.id): 1500,
    }


def test_an_order_no_longer_awaiting_payment_is_taken_back(order):
    started = _started(order)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAYMENT_FAILED)
    payment = _sale(started)
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert escrow() == (0, 4000)


def test_an_authorised_payment_is_captured(order):
    started = _started(order)
    authorize.apply_authorize_result(
        payment_id=started.payment.id,
        result=ProviderResult(status="authorized", reference="ch_test"),
        actor="buyer:1",
        started=started,
    )
    payment = _sold(started.payment.id)
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    assert escrow() == (0, 4000)
    assert [
        (e.from_status, e.to_status, e.reason, e.data)
        for e in PaymentEvent.objects.filter(payment=payment).order_by("id")
    ][2:] == [("authorized", "captured", "captured", {"captured_minor": 4000})]


def test_a_ledger_refusal_raises_it_with_nothing_written(order):
    started = _started(order)
    sub = SubOrder.objects.filter(order=order).order_by("id").first()
    create_transfers(  # another transfer under the hold's id: transfer_exists
        [
            TransferRequest(
                id=hold_transfer_id(started.payment.id, sub.id),
                debit_account_id=chart.account(currency="EUR", code=chart.external("sandbox_card")),
                credit_account_id=chart.account(currency="EUR", code=chart.ESCROW),
                amount_minor=1,
                currency="EUR",
                reason="test",
            )
        ]
    )
    with pytest.raises(BatchFailed) as refused:
        _sale(started)
    assert (refused.value.index, refused.value.reason.code) == (0, "transfer_exists")
    assert Payment.objects.get(pk=started.payment.id).status == "created"
    assert not OrderEvent.objects.exists()
    with pytest.raises(LedgerError):
        _sold(started.payment.id)


def test_a_replayed_sale_returns_quietly_and_an_illegal_one_raises(order):
    started = _started(order)
    assert _sale(started).status == "captured"
    for again in (_sale(started), _sold(started.payment.id)):
        assert (again.status, again.captured_minor) == ("captured", 4000)
    assert PaymentEvent.objects.filter(payment_id=started.payment.id).count() == 3
    assert Transfer.objects.filter(reference=f"payment:{started.payment.id}").count() == 4
    Payment.objects.filter(pk=started.payment.id).update(status="voided")
    with pytest.raises(IllegalTransition) as refused:
        _sold(started.payment.id)
    assert refused.value.extra == {"from": "voided", "to": "authorized"}


# --- races -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_key", [False, True], ids=["two_keys", "one_key"])
def test_two_automatic_payments_at_once_capture_once(settings, published, same_key):
    buyer = make_user(Role.BUYER)
    order = make_order(buyer=buyer)
    clients = [api_client(buyer) for _ in range(2)]
    key = str(uuid.uuid4()) if same_key else None
    responses = run_together(*[lambda c=c: api_pay(c, order, key=key) for c in clients])
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 201 and codes[1] in {201, 409}, responses
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.captured_minor) == ("captured", 4000)
    reference = f"payment:{payment.id}"
    assert Transfer.objects.filter(kind="pending", reference=reference).count() == 2
    assert Transfer.objects.filter(kind="post_pending", reference=reference).count() == 2
    assert SandboxCardCharge.objects.count() == 1
    assert PaymentEvent.objects.filter(payment=payment, to_status="captured").count() == 1
    assert OrderEvent.objects.filter(order=order, kind="payment.captured").count() == 1
    assert escrow() == (0, 4000)


@pytest.mark.django_db(transaction=True)
def test_the_same_sale_applied_twice_at_once_captures_once(settings, published):
    order = make_order(buyer=make_user(Role.BUYER))
    started = _started(order)
    results = run_together(*[lambda: _sale(started) for _ in range(2)])
    assert all(isinstance(r, Payment) and r.status == "captured" for r in results), results
    payment_id = started.payment.id
    assert PaymentEvent.objects.filter(payment_id=payment_id).count() == 3
    assert Transfer.objects.filter(reference=f"payment:{payment_id}").count() == 4
    assert OrderEvent.objects.filter(order=order).count() == 4
    assert len(published) == 1
