"""A card payment's start and authorisation on PostgreSQL (payments/flows/authorize_plpgsql.py,
payments_start and payments_authorize): one statement each for the API's card payment,
every case of the authorisation in the function (the ones that used to fall back to a Python copy
included, with the answers that copy gave), the rows it wrote pinned, and one payment per order
however many requests race."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from accounts.services import api_key_create
from core.errors import Conflict, IntegrityViolation, NotFound
from ledger import chart
from ledger.errors import BatchFailed, LedgerError
from ledger.models import Transfer
from ledger.services import TransferRequest, create_transfers
from payments import conf
from payments.flows import authorize_plpgsql as fast_authorize
from payments.flows import start_plpgsql
from payments.flows.authorize import apply_authorize_result
from payments.flows.ledger import hold_transfer_id
from payments.flows.start import payment_start
from payments.flows.state import payment_transition
from payments.flows.transitions import IllegalTransition
from payments.fulfilment import documents as order_documents
from payments.fulfilment.models import SealedOrderDocument
from payments.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentEvent,
    Product,
    SubOrder,
)
from payments.orders import events as order_events
from payments.orders.errors import OrderNotPayable, OutOfStock
from payments.orders.models import CheckoutSession, CheckoutSessionStatus
from payments.providers.base import ProviderResult
from payments.providers.models import SandboxCardCharge
from payments.vault.cards import validate_card
from payments.vault.models import VaultedCard
from payments.vault.services import vault_detokenize
from tests.concurrency import run_together
from tests.payments.fast_path_snapshots import escrow_balances, relative_names
from tests.payments.pay_factories import make_order, make_user
from tests.payments.pay_fixtures import SUCCESS, TEST_CVC

API = "/api/v1/payments/"
CARD = {"number": SUCCESS, "exp_month": "12", "exp_year": "2030", "cvc": TEST_CVC}


def card():
    return validate_card(
        number=SUCCESS, exp_month=12, exp_year=2030, cvc=TEST_CVC, today=dt.date(2026, 1, 1)
    )


@pytest.fixture
def dispatched(monkeypatch):
    """Order events handed to the dispatcher (after commit), by id."""
    sent: list[int] = []
    monkeypatch.setattr(order_events, "_enqueue_dispatch", lambda ids: sent.extend(ids))
    return sent


def pay_body(order, **changes) -> str:
    return json.dumps({"order": str(order.id), "method": "card", "card": CARD, **changes})


def started_context(order, actor="buyer:1"):
    """A payment started on the fast path, before the provider's answer is applied."""
    return start_plpgsql.start_payment(
        order_id=order.pk,
        method="card",
        provider="sandbox_card",
        actor=actor,
        card=card(),
        return_url="",
    )


def authorize(started, reference="ch_test"):
    return fast_authorize.apply_authorized(
        payment_id=started.payment.id,
        reference=reference,
        actor="buyer:1",
        reason="authorised by the provider",
        data={"provider_status": "authorized", "failure_code": ""},
        started=started,
    )


def authorized_result(reference="ch_test"):
    return ProviderResult(status="authorized", reference=reference)


def nothing_authorized(payment_id) -> None:
    assert Payment.objects.get(pk=payment_id).status == "created"
    assert not PaymentEvent.objects.filter(payment_id=payment_id, to_status="authorized").exists()
    assert not Transfer.objects.filter(reference=f"payment:{payment_id}").exists()
    assert not OrderEvent.objects.filter(kind__in=["payment.authorized", "order.paid"]).exists()
    assert not SubOrder.objects.filter(escrow_transfer_id__isnull=False).exists()


# --- taken ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_api_pay_request_is_at_most_6_statements(dispatched, monkeypatch):
    sealed: list = []
    # Sealing rides on the dispatch of the order.paid events (after commit): no task of its own.
    monkeypatch.setattr(order_documents, "seal_after_commit", lambda **kw: sealed.append(kw))
    buyer = make_user(Role.BUYER)
    _key, secret = api_key_create(owner=buyer, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def pay(order):
        return client.post(
            API,
            pay_body(order),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    assert pay(make_order(buyer=buyer)).status_code == 201  # warm: account ids, key last used
    order = make_order(buyer=buyer)
    with CaptureQueriesContext(connection) as queries:
        response = pay(order)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "authorized"
    statements = [q["sql"] for q in queries.captured_queries]
    # Idempotency claim, API key, start, charge INSERT, authorise, idempotency answer. The card
    # is handed to the processor in memory: the vault row just written is not read back.
    assert len(statements) <= 6, "\n".join(s[:120] for s in statements)
    assert not any("payments_vaultedcard" in s for s in statements)
    assert any("payments_start(" in s for s in statements)
    assert any("payments_authorize(" in s for s in statements)
    assert not any(s.startswith(("BEGIN", "SAVEPOINT")) for s in statements)
    assert sealed == []
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(dispatched) == 6  # 2 orders x (payment.authorized + 2 x order.paid)


@pytest.mark.django_db
def test_the_response_is_the_payment_as_stored(buyer_client, order):
    response = buyer_client.post(API, pay_body(order), content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "authorized"
    assert buyer_client.get(f"{API}{body['id']}/").json() == body


@pytest.mark.django_db
def test_api_errors_are_the_python_paths(buyer_client, other_buyer, order):
    def pay(body):
        return buyer_client.post(API, json.dumps(body), content_type="application/json")

    strangers = make_order(buyer=other_buyer)
    missing = pay({"order": str(strangers.id), "method": "card", "card": CARD}).json()["error"]
    assert (missing["code"], missing["field"]) == ("order_not_found", "order")
    # A stranger's order is "not found" before the card or the return URL are judged.
    for body in (
        {"order": str(strangers.id), "method": "card"},
        {"order": str(strangers.id), "method": "card", "card": {**CARD, "number": "1"}},
        {"order": str(strangers.id), "method": "card", "card": CARD, "return_url": "http://x"},
    ):
        assert pay(body).json()["error"]["code"] == "order_not_found"
    assert pay({"order": str(order.id), "method": "card"}).status_code == 400
    url = pay({"order": str(order.id), "method": "card", "card": CARD, "return_url": "http://x"})
    assert url.json()["error"]["field"] == "return_url"

    assert pay({"order": str(order.id), "method": "card", "card": CARD}).status_code == 201
    paid = pay({"order": str(order.id), "method": "card", "card": CARD}).json()["error"]
    assert paid["code"] == "order_not_payable"
    assert paid["message"] == "This order cannot be paid now (it is paid (held in escrow))."

    other = make_order(buyer=order.buyer)
    in_progress = started_context(other).payment
    busy = pay({"order": str(other.id), "method": "card", "card": CARD})
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "payment_in_progress"
    assert busy.json()["error"]["extra"] == {"payment_id": str(in_progress.id)}
    assert VaultedCard.objects.count() == 2  # refused starts vault nothing


# --- the cases that used to fall back to the Python path: the function's now --------------------


def authorize_by_transition(payment_id):
    """payment_transition(to authorized), as wallets, bank transfers and 3-D Secure use it."""
    return payment_transition(
        payment_id=payment_id, to_status="authorized", actor="buyer:1", reason="authorised"
    )


@pytest.mark.django_db
def test_an_order_whose_payment_failed_meanwhile_is_taken_back(order, dispatched):
    started = started_context(order)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAYMENT_FAILED)
    payment, outcome = authorize(started)
    assert (payment.status, outcome) == ("authorized", "ok")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert OrderEvent.objects.filter(order=order, kind="order.paid").count() == 2


@pytest.mark.django_db
def test_an_order_taken_back_takes_its_stock_again_or_is_refused(order, dispatched):
    seller = SubOrder.objects.filter(order=order).order_by("id").first().seller
    product = Product.objects.create(
        seller=seller, title="Mug", price_minor=1500, currency="EUR", stock=1
    )
    OrderLine.objects.filter(sub_order__order=order).update(product=product, quantity=2)
    started = started_context(order)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.EXPIRED, stock_reserved=False)
    with pytest.raises(OutOfStock) as refused:
        authorize(started)
    assert (refused.value.message, refused.value.extra) == (
        "Not enough stock of “Mug”: you asked for 4, only 1 left.",  # two lines of 2
        {"product_id": product.id, "available": 1},
    )
    nothing_authorized(started.payment.id)
    Product.objects.filter(pk=product.pk).update(stock=10)
    payment, _outcome = authorize(started)
    assert payment.status == "authorized"
    order.refresh_from_db()
    assert (order.status, order.stock_reserved) == (OrderStatus.PAID, True)
    assert Product.objects.get(pk=product.pk).stock == 6


@pytest.mark.django_db
def test_an_order_that_cannot_be_paid_is_refused_with_nothing_written(order):
    started = started_context(order)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    with pytest.raises(OrderNotPayable) as refused:
        authorize(started)
    assert refused.value.message == f"Order {order.number} is cancelled."
    nothing_authorized(started.payment.id)


@pytest.mark.django_db
def test_sub_orders_that_do_not_sum_to_the_payment_are_refused(order):
    started = started_context(order)
    SubOrder.objects.filter(order=order).update(amount_minor=1000)
    for attempt in (
        lambda: authorize(started),
        lambda: authorize_by_transition(started.payment.id),
    ):
        with pytest.raises(IntegrityViolation) as refused:
            attempt()
        assert (refused.value.code, refused.value.message) == (
            "sub_orders_do_not_match_payment",
            "Sub-orders sum to 2000, the payment is 4000.",
        )
        nothing_authorized(started.payment.id)


@pytest.mark.django_db
def test_sub_orders_other_than_the_holds_were_built_for_are_read_again(order, dispatched):
    started = started_context(order)
    first, second = SubOrder.objects.filter(order=order).order_by("id")
    SubOrder.objects.filter(pk=first.pk).update(amount_minor=2500)
    SubOrder.objects.filter(pk=second.pk).update(amount_minor=1500)
    payment, _outcome = authorize(started)
    assert payment.status == "authorized"
    holds = {
        t.id: t.amount_minor for t in Transfer.objects.filter(reference=f"payment:{payment.id}")
    }
    assert holds == {
        hold_transfer_id(payment.id, first.id): 2500,
        hold_transfer_id(payment.id, second.id): 1500,
    }


@pytest.mark.django_db
def test_a_sub_order_with_an_acceptance_window_already_keeps_it(order, dispatched):
    started = started_context(order)
    first, second = SubOrder.objects.filter(order=order).order_by("id")
    window = timezone.now()
    SubOrder.objects.filter(pk=first.pk).update(accept_by=window)
    payment, _outcome = authorize(started)
    assert payment.status == "authorized"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.accept_by) == ("awaiting_acceptance", window)
    assert second.status == "awaiting_acceptance" and second.accept_by > window
    paid = OrderEvent.objects.filter(order=order, kind="order.paid")
    assert [e.sub_order_id for e in paid] == [second.id]


@pytest.mark.django_db
def test_a_ledger_refusal_raises_it_with_nothing_written(order):
    started = started_context(order)
    sub = SubOrder.objects.filter(order=order).order_by("id").first()
    # Another transfer under the hold's id: the ledger refuses (transfer_exists).
    create_transfers(
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
        authorize(started)
    assert (refused.value.index, refused.value.reason.code) == (0, "transfer_exists")
    assert Payment.objects.get(pk=started.payment.id).status == "created"
    assert not OrderEvent.objects.exists()
    with pytest.raises(LedgerError):
        apply_authorize_result(
            payment_id=started.payment.id, result=authorized_result(), actor="buyer:1"
        )


@pytest.mark.django_db
def test_an_unknown_payment_is_not_found():
    unknown = uuid.uuid4()
    with pytest.raises(NotFound):
        fast_authorize.apply_authorized(
            payment_id=unknown, reference="ch_x", actor="system", reason="r", data={}
        )
    with pytest.raises(NotFound):
        apply_authorize_result(payment_id=unknown, result=authorized_result(), actor="x")


@pytest.mark.django_db
def test_a_replay_returns_quietly_and_an_illegal_move_raises(order):
    started = started_context(order)
    payment, _outcome = authorize(started)
    assert payment.status == "authorized"
    again = apply_authorize_result(
        payment_id=payment.id, result=authorized_result(), actor="buyer:1", started=started
    )
    assert again.status == "authorized"
    assert PaymentEvent.objects.filter(payment=payment, to_status="authorized").count() == 1
    assert Transfer.objects.filter(reference=f"payment:{payment.id}").count() == 2
    with pytest.raises(IllegalTransition) as replayed:
        authorize_by_transition(payment.id)  # payment_transition refuses a replay
    assert replayed.value.extra == {"from": "authorized", "to": "authorized"}

    Payment.objects.filter(pk=payment.id).update(status="voided")
    with pytest.raises(IllegalTransition) as refused:
        apply_authorize_result(payment_id=payment.id, result=authorized_result(), actor="x")
    assert refused.value.extra == {"from": "voided", "to": "authorized"}
    assert refused.value.message == "A payment that is voided cannot become authorized."


@pytest.mark.django_db
def test_an_order_made_by_a_checkout_session_completes_the_session(order):
    session = CheckoutSession.objects.create(
        seller=SubOrder.objects.filter(order=order).first().seller,
        currency="EUR",
        line_items=[],
        amount_total_minor=order.total_minor,
        success_url="https://shop.example/ok",
        cancel_url="https://shop.example/cancel",
        expires_at=timezone.now() + timedelta(hours=1),
        order=order,
    )
    Order.objects.filter(pk=order.pk).update(metadata={"checkout_session": str(session.pk)})
    payment = payment_start(order=order, method="card", actor="buyer:1", card=card()).payment
    assert payment.status == "authorized"
    assert PaymentEvent.objects.filter(payment=payment, to_status="authorized").exists()
    session.refresh_from_db()
    assert session.status == CheckoutSessionStatus.COMPLETE
    assert session.completed_at == Payment.objects.get(pk=payment.id).updated_at


# --- the same rows either way -----------------------------------------------------------------


def _snapshot(client, order, dispatched) -> dict:
    """Pay the order through the API; everything it wrote, with ids and times made relative."""
    before = escrow_balances()
    sent_before = len(dispatched)
    started_at = timezone.now()
    response = client.post(API, pay_body(order), content_type="application/json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(order=order)
    subs = list(SubOrder.objects.filter(order=order).order_by("id"))
    subs_named, norm = relative_names(payment, order, subs)

    body = response.json()
    assert body["order_number"] == order.number
    for key in ("id", "order", "order_number", "created_at", "updated_at"):
        body.pop(key)
    fields = {f.attname: getattr(payment, f.attname) for f in Payment._meta.concrete_fields}
    assert started_at <= fields.pop("created_at") <= fields.pop("updated_at") <= timezone.now()
    assert fields.pop("provider_reference").startswith("ch_")
    vaulted = VaultedCard.objects.get(pk=fields.pop("vaulted_card_id"))
    assert fields["details"]["card"].pop("token") == vaulted.token
    for name in ("id", "order_id"):
        fields.pop(name)
    assert vault_detokenize(token=vaulted.token).number == SUCCESS
    charge = SandboxCardCharge.objects.get(idempotency_key=f"payment:{payment.id}:authorize")
    events = list(OrderEvent.objects.filter(order=order).order_by("id"))
    for event in events:
        assert started_at <= event.created_at <= timezone.now()
        if event.kind == "order.paid":
            sub = next(s for s in subs if s.id == event.sub_order_id)
            assert event.data.pop("accept_by") == sub.accept_by.isoformat()
    window = conf.acceptance_window()
    for sub in subs:
        assert sub.escrow_transfer_id == hold_transfer_id(payment.id, sub.id)
        assert started_at + window <= sub.accept_by <= timezone.now() + window
        assert started_at <= sub.updated_at <= timezone.now()
    transfers = list(Transfer.objects.filter(reference=f"payment:{payment.id}"))
    assert sorted(t.id for t in transfers) == sorted(
        hold_transfer_id(payment.id, sub.id) for sub in subs
    )
    after = escrow_balances()
    order.refresh_from_db()
    assert started_at <= order.updated_at <= timezone.now()
    return {
        "response": norm(body),
        "payment": fields,
        "vaulted": (
            vaulted.owner_id == order.buyer_id,
            vaulted.brand,
            vaulted.last4,
            vaulted.exp_month,
            vaulted.exp_year,
            vaulted.key_id,
            vaulted.deleted_at,
            started_at <= vaulted.created_at <= payment.created_at,
        ),
        "charge": (
            charge.status,
            charge.attempts,
            charge.amount_minor,
            charge.currency,
            charge.brand,
            charge.last4,
            charge.failure_code,
            charge.captured_minor,
            charge.challenge_expires_at,
            charge.card_token == vaulted.token,
            charge.reference == payment.provider_reference,
        ),
        "payment_events": [
            (e.from_status, e.to_status, e.actor, e.reason, e.data)
            for e in PaymentEvent.objects.filter(payment=payment).order_by("id")
        ],
        "order_events": [
            (e.kind, e.actor, subs_named.get(e.sub_order_id), norm(e.data), e.dispatched_at)
            for e in events
        ],
        "dispatched": sorted(dispatched[sent_before:]) == [e.id for e in events],
        "order": (order.status, order.payment_failure_reason, order.stock_reserved),
        "sub_orders": [
            (s.status, s.amount_minor, s.currency, s.captured_minor, s.accepted_at) for s in subs
        ],
        "transfers": sorted(
            (
                t.kind,
                t.debit_account.code,
                t.credit_account.code,
                t.amount_minor,
                t.currency,
                t.reason,
                t.pending_id,
                t.timeout_at,
                t.batch_id is not None,
                norm(t.metadata),
            )
            for t in transfers
        ),
        "one_batch": len({t.batch_id for t in transfers}) == 1,
        "balance_change": {
            code: tuple(
                a - b for a, b in zip(after[code], before.get(code, (0, 0, 0, 0)), strict=True)
            )
            for code in after
        },
        "documents": sorted(
            subs_named[d.sub_order_id]
            for d in SealedOrderDocument.objects.filter(sub_order__order=order)
        ),
    }


def _expected(actor: str) -> dict:
    """What the API's card payment wrote when the Python path (payment_start, payment_transition)
    was the reference it was held equal to; pinned when that path was removed."""
    return {
        "balance_change": {
            "external:sandbox_card": (4000, 0, 0, 0),
            "platform:escrow": (0, 0, 4000, 0),
        },
        "charge": ("authorized", 1, 4000, "EUR", "visa", "4242", "", 0, None, True, True),
        "dispatched": True,
        "documents": [],
        "one_batch": True,
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
        ],
        "payment": {
            "amount_minor": 4000,
            "bank_reference": None,
            "captured_minor": 0,
            "currency": "EUR",
            "details": {
                "card": {"brand": "visa", "exp_month": 12, "exp_year": 2030, "last4": "4242"},
                "return_url": "",
            },
            "expires_at": None,
            "failure_code": "",
            "failure_message": "",
            "method": "card",
            "provider": "sandbox_card",
            "provider_attempts": 1,
            "status": "authorized",
        },
        "payment_events": [
            ("", "created", actor, "started", {}),
            (
                "created",
                "authorized",
                actor,
                "authorised by the provider",
                {"failure_code": "", "provider_status": "authorized"},
            ),
        ],
        "response": {
            "amount_minor": 4000,
            "bank_transfer": None,
            "captured_minor": 0,
            "card": {"brand": "visa", "exp_month": 12, "exp_year": 2030, "last4": "4242"},
            "currency": "EUR",
            "expires_at": None,
            "failure_code": "",
            "failure_message": "",
            "method": "card",
            "next_action": None,
            "provider": "sandbox_card",
            "status": "authorized",
            "wallet": None,
        },
        "sub_orders": [
            ("awaiting_acceptance", 1500, "EUR", 0, None),
            ("awaiting_acceptance", 2500, "EUR", 0, None),
        ],
        "transfers": [
            (
                "pending",
                "external:sandbox_card",
                "platform:escrow",
                1500,
                "EUR",
                "payment_authorized",
                None,
                None,
                True,
                {"order": "<order>", "seller": "<seller0>", "sub_order": "<sub0>"},
            ),
            (
                "pending",
                "external:sandbox_card",
                "platform:escrow",
                2500,
                "EUR",
                "payment_authorized",
                None,
                None,
                True,
                {"order": "<order>", "seller": "<seller1>", "sub_order": "<sub1>"},
            ),
        ],
        "vaulted": (True, "visa", "4242", 12, 2030, "test1", None, True),
    }


@pytest.mark.django_db(transaction=True)
def test_the_card_payment_writes_these_rows(dispatched):
    buyer = make_user(Role.BUYER)
    client = Client()
    client.force_login(buyer)
    sellers = [make_user(Role.SELLER), make_user(Role.SELLER)]
    with CaptureQueriesContext(connection) as queries:
        written = _snapshot(client, make_order(buyer=buyer, sellers=sellers), dispatched)
    assert any("payments_authorize(" in q["sql"] for q in queries.captured_queries)
    assert written == _expected(f"buyer:{buyer.pk}")


# --- races ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_pay_requests_at_once_make_one_payment_and_one_set_of_holds(dispatched):
    buyer = make_user(Role.BUYER)
    order = make_order(buyer=buyer)
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(buyer)
        clients.append(client)
    responses = run_together(
        *[
            lambda client=client: client.post(API, pay_body(order), content_type="application/json")
            for client in clients
        ]
    )
    assert sorted(r.status_code for r in responses) == [201, 409], responses
    refused = next(r for r in responses if r.status_code == 409).json()["error"]["code"]
    assert refused in {"payment_in_progress", "order_not_payable"}
    assert Payment.objects.filter(order=order).count() == 1
    payment = Payment.objects.get(order=order)
    assert payment.status == "authorized"
    assert Transfer.objects.filter(kind="pending", reference=f"payment:{payment.id}").count() == 2
    assert OrderEvent.objects.filter(order=order, kind="order.paid").count() == 2
    assert VaultedCard.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_authorisation_applied_twice_at_once_holds_once(dispatched):
    order = make_order(buyer=make_user(Role.BUYER))
    started = started_context(order)
    results = run_together(
        *[
            lambda: apply_authorize_result(
                payment_id=started.payment.id,
                result=authorized_result(),
                actor="buyer:1",
                started=started,
            )
            for _ in range(2)
        ]
    )
    assert all(isinstance(r, Payment) and r.status == "authorized" for r in results), results
    payment_id = started.payment.id
    assert PaymentEvent.objects.filter(payment_id=payment_id, to_status="authorized").count() == 1
    assert Transfer.objects.filter(reference=f"payment:{payment_id}").count() == 2
    assert OrderEvent.objects.filter(order=order, kind="payment.authorized").count() == 1
    assert len(dispatched) == 3


# --- every method starts through the one start function -----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "wallet", "status", "details"),
    [
        ("bank_transfer", None, "awaiting_transfer", {"return_url": ""}),
        ("wallet", "alipay", "requires_action", {"return_url": "", "wallet": "alipay"}),
    ],
)
def test_wallets_and_bank_transfers_start_through_the_start_function(
    order, method, wallet, status, details
):
    with CaptureQueriesContext(connection) as queries:
        payment = payment_start(order=order, method=method, wallet=wallet, actor="buyer:1").payment
    assert sum("payments_start(" in q["sql"] for q in queries.captured_queries) == 1
    assert not any('INSERT INTO "payments_payment"' in q["sql"] for q in queries.captured_queries)
    stored = Payment.objects.get(pk=payment.id)
    assert (stored.method, stored.status, stored.details, stored.provider_attempts) == (
        method,
        status,
        details,
        1,
    )
    assert stored.vaulted_card_id is None
    assert (stored.bank_reference is not None) == (method == "bank_transfer")
    assert next(
        (e.from_status, e.to_status, e.actor, e.reason)
        for e in PaymentEvent.objects.filter(payment=stored).order_by("id")
    ) == ("", "created", "buyer:1", "started")
    # The order's refusals are the start function's, as for a card.
    with pytest.raises(Conflict) as busy:
        payment_start(order=order, method=method, wallet=wallet, actor="buyer:1")
    assert (busy.value.code, busy.value.extra) == (
        "payment_in_progress",
        {"payment_id": str(payment.id)},
    )
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    with pytest.raises(Conflict) as closed:
        payment_start(order=order, method=method, wallet=wallet, actor="buyer:1")
    assert closed.value.message == "This order cannot be paid now (it is cancelled)."
