"""The admin staff live in: every project model is registered; every list and, for a real row,
every detail page opens; the ledger refuses writes; money shows in its currency; card and account
numbers are masked; and the links lead from a payment to the bank statement line that paid its
seller out."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role, SellerProfile
from core.admin_base import ReadOnlyAdmin, mask_iban, reference_link
from ledger.models import Transfer
from ledger.records import log_record_append
from ledger.seals import ledger_seal
from payments.providers.models import SandboxCardCharge
from settlement.maturation import mature_due
from settlement.models import Payout, PayoutStatus
from settlement.reconciliation.matching import run_matching
from settlement.reconciliation.models import StatementLine
from settlement.release.services import sub_order_confirm
from tests.lifecycle.release_fixtures import make_seller, paid_order
from tests.payments.pay_factories import make_user
from tests.payments.pay_fixtures import SUCCESS
from tests.settlement.dashboard_fixtures import fee_plans, settle  # noqa: F401 (a fixture)
from tests.settlement.recon_fixtures import Line, import_lines

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts", "core", "ledger", "payments", "settlement")
SELLER_IBAN = "DE89370400440532013000"
COUNTERPARTY_IBAN = "FR1420041010050500013M02606"

REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name, type(model_admin))
    for model, model_admin in admin.site._registry.items()
)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _hrefs(page) -> list[str]:
    """The page's links, without the list filters a changelist's row links carry along."""
    return [
        html.unescape(h).split("?_changelist_filters=")[0]
        for h in re.findall(r'href="([^"]+)"', page.content.decode())
    ]


def _link_to(page, prefix: str) -> str:
    """The first link on `page` that starts with `prefix` (a URL staff would click)."""
    found = [href for href in _hrefs(page) if href.startswith(prefix)]
    assert found, f"no link to {prefix} on the page"
    return found[0]


def build_chain() -> dict:
    """A card payment captured, its sub-order confirmed (escrow released; with `fee_plans`: no
    hold, no fee), the release matured, today's batch paid out to the seller's IBAN and the payout
    matched to a line of an imported bank statement (beside a buyer's credit, unmatched)."""
    buyer = make_user(Role.BUYER)
    seller = make_seller()
    SellerProfile.objects.filter(user=seller).update(
        iban=SELLER_IBAN, bic="COBADEFFXXX", bank_account_holder="Seller GmbH"
    )
    order, payment, (sub_order,) = paid_order(buyer=buyer, sellers=[seller], amounts=(10_000,))
    sub_order_confirm(sub_order_id=sub_order.pk, buyer=buyer, actor=f"buyer:{buyer.pk}")
    mature_due()
    settled = settle(seller, bank_says="paid")
    payout = Payout.objects.get(pk=settled.payout.pk)
    assert payout.status == PayoutStatus.PAID
    import_lines(
        [
            Line(-payout.amount_minor, end_to_end_id=payout.bank_id),
            Line(2_500, counterparty_iban=COUNTERPARTY_IBAN, counterparty_name="A buyer"),
        ],
        statement_id=f"STMT-{payout.pk.hex[:8]}",
    )
    run_matching()
    line = StatementLine.objects.get(matches__payout=payout)
    # The log sealed over a record, and a second record left in the queue.
    log_record_append(record_id=uuid.uuid4(), kind="test.admin", payload=b"sealed")
    ledger_seal()
    log_record_append(record_id=uuid.uuid4(), kind="test.admin", payload=b"queued")
    return {
        "payment": payment,
        "order": order,
        "sub_order": sub_order,
        "batch": settled.batch,
        "payout": payout,
        "line": line,
    }


@pytest.fixture
def chain(fee_plans):  # noqa: F811
    return build_chain()


def test_every_project_model_is_registered():
    unregistered = [
        f"{model._meta.app_label}.{model.__name__}"
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and model not in admin.site._registry
    ]
    assert unregistered == []


@pytest.mark.parametrize(
    ("app_label", "model_name", "admin_class"),
    REGISTERED,
    ids=[f"{app}.{model}" for app, model, _ in REGISTERED],
)
def test_the_changelist_opens_and_read_only_pages_refuse_adds(
    admin_client, app_label, model_name, admin_class
):
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(changelist, {"q": "x"}).status_code == 200
    if issubclass(admin_class, ReadOnlyAdmin):
        assert admin_client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403


# The models the chain's data must give a row to (so the next test is not vacuous for them).
CHAIN_MODELS = {
    "ledger.account",
    "ledger.transfer",
    "ledger.logentry",
    "ledger.logrecord",
    "ledger.logrecordqueue",
    "ledger.seal",
    "payments.order",
    "payments.suborder",
    "payments.orderline",
    "payments.orderevent",
    "payments.payment",
    "payments.paymentevent",
    "payments.sandboxcardcharge",
    "settlement.heldrelease",
    "settlement.settlementbatch",
    "settlement.payout",
    "settlement.payoutevent",
    "settlement.statementfile",
    "settlement.bankstatement",
    "settlement.statementline",
    "settlement.linematch",
    "accounts.user",
    "accounts.sellerprofile",
}


def test_every_list_and_a_detail_page_of_each_model_open_with_data(admin_client, admin_user, chain):
    request = RequestFactory().get("/")
    request.user = admin_user
    failures, with_rows = [], set()
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        status = admin_client.get(changelist).status_code
        if status != 200:
            failures.append(f"{label} list: {status}")
        row = model_admin.get_queryset(request).first()
        if row is None:
            continue
        with_rows.add(label)
        status = admin_client.get(_change_url(row)).status_code
        if status != 200:
            failures.append(f"{label} page: {status}")
    assert failures == []
    assert CHAIN_MODELS - with_rows == set()


@pytest.mark.parametrize(
    "model_name",
    [
        "account",
        "transfer",
        "balancedelta",
        "logentry",
        "logqueue",
        "logrecord",
        "logrecordqueue",
        "seal",
    ],
)
def test_the_ledger_admins_refuse_adds_changes_and_deletes(admin_client, chain, model_name):
    model = apps.get_model("ledger", model_name)
    assert admin_client.get(reverse(f"admin:ledger_{model_name}_add")).status_code == 403
    row = model.objects.first()
    if row is None:
        return  # nothing of this kind left by the chain (the transfers' queue drains at sealing)
    page = admin_client.get(_change_url(row))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    before = model.objects.count()
    assert admin_client.post(_change_url(row), {}).status_code == 403
    delete = reverse(f"admin:ledger_{model_name}_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.count() == before


def test_the_links_lead_from_a_payment_to_the_statement_line_that_paid_its_seller(
    admin_client, chain
):
    # Payment -> its order (and its statement lines: none, a card payment is not on the statement)
    page = admin_client.get(_change_url(chain["payment"]))
    assert page.status_code == 200
    lines = admin_client.get(_link_to(page, reverse("admin:settlement_statementline_changelist")))
    assert lines.status_code == 200  # the filter is allowed (a refused one redirects to ?e=1)
    by_payout = admin_client.get(
        reverse("admin:settlement_statementline_changelist"),
        {"matches__payout__id__exact": chain["payout"].pk},
    )
    assert _change_url(chain["line"]) in _hrefs(by_payout)
    page = admin_client.get(_link_to(page, _change_url(chain["order"])))
    assert page.status_code == 200

    # Order -> its sub-order (and back to its payments)
    payments = admin_client.get(_link_to(page, reverse("admin:payments_payment_changelist")))
    assert _change_url(chain["payment"]) in _hrefs(payments)
    page = admin_client.get(_link_to(page, _change_url(chain["sub_order"])))
    assert page.status_code == 200

    # Sub-order -> its ledger transfers (the capture among them)
    transfers = admin_client.get(_link_to(page, reverse("admin:ledger_transfer_changelist")))
    capture = Transfer.objects.get(
        reference=f"payment:{chain['payment'].pk}", reason="payment_captured"
    )
    assert _change_url(capture) in _hrefs(transfers)
    # ... and a transfer back to what its reference names (here the payment)
    assert _change_url(chain["payment"]) in _hrefs(admin_client.get(_change_url(capture)))
    release = Transfer.objects.filter(reference=f"sub_order:{chain['sub_order'].pk}").first()
    assert release is not None
    assert _change_url(chain["sub_order"]) in _hrefs(admin_client.get(_change_url(release)))

    # Sub-order -> the batch that covers it
    batches = admin_client.get(
        _link_to(page, reverse("admin:settlement_settlementbatch_changelist"))
    )
    page = admin_client.get(_link_to(batches, _change_url(chain["batch"])))
    assert page.status_code == 200
    assert _change_url(chain["sub_order"]) in _hrefs(page)  # the batch's line names it

    # Batch -> its payout -> the statement line matched to it
    page = admin_client.get(_link_to(page, _change_url(chain["payout"])))
    assert page.status_code == 200
    assert _change_url(chain["batch"]) in _hrefs(page)  # and back
    page = admin_client.get(_link_to(page, _change_url(chain["line"])))
    assert page.status_code == 200

    # Statement line -> the payout it matched
    assert _change_url(chain["payout"]) in _hrefs(page)


def _changelist_queries(client) -> dict[str, int]:
    counts = {}
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts[f"{model._meta.app_label}.{model._meta.model_name}"] = len(queries)
    return counts


def test_a_changelist_makes_as_many_queries_for_two_rows_as_for_one(admin_client, chain):
    one = _changelist_queries(admin_client)
    build_chain()
    two = _changelist_queries(admin_client)
    grew = {label: (one[label], two[label]) for label in one if two[label] > one[label]}
    assert grew == {}


def test_a_batch_is_found_by_a_sub_order_it_does_not_cover_as_none(admin_client, chain):
    url = reverse("admin:settlement_settlementbatch_changelist")
    other = admin_client.get(url, {"sub_order": chain["sub_order"].pk + 1000})
    assert _change_url(chain["batch"]) not in _hrefs(other)
    assert admin_client.get(url, {"sub_order": "x"}).status_code == 200


def test_money_shows_in_its_currency(admin_client, chain):
    for view in ("settlement_payout", "settlement_settlementbatch", "ledger_transfer"):
        page = admin_client.get(reverse(f"admin:{view}_changelist")).content.decode()
        assert "€100.00" in page, view


def test_account_numbers_are_masked_and_card_numbers_never_shown(admin_client, chain):
    masked_seller, masked_counterparty = mask_iban(SELLER_IBAN), mask_iban(COUNTERPARTY_IBAN)
    assert masked_seller == "DE89 •••• 3000"
    pages = {
        "payout list": reverse("admin:settlement_payout_changelist"),
        "payout": _change_url(chain["payout"]),
        "seller list": reverse("admin:accounts_sellerprofile_changelist"),
        "line list": reverse("admin:settlement_statementline_changelist"),
        "line": _change_url(StatementLine.objects.get(counterparty_iban=COUNTERPARTY_IBAN)),
    }
    for name, url in pages.items():
        text = admin_client.get(url).content.decode()
        assert SELLER_IBAN not in text and COUNTERPARTY_IBAN not in text, name
        assert masked_seller in text or masked_counterparty in text, name

    found = admin_client.get(
        reverse("admin:settlement_statementline_changelist"), {"q": COUNTERPARTY_IBAN}
    ).content.decode()
    # The term typed stays in the search box and the filter links; the rows show it masked.
    rows = re.search(r'<table id="result_list">.*?</table>', found, re.S).group(0)
    assert masked_counterparty in rows
    assert COUNTERPARTY_IBAN not in re.sub(r'href="[^"]*"', "", rows)

    charge = SandboxCardCharge.objects.get()
    card_pages = [
        _change_url(chain["payment"]),
        _change_url(charge),
        reverse("admin:payments_sandboxcardcharge_changelist"),
    ]
    token = chain["payment"].details["card"]["token"]
    for url in card_pages:
        text = admin_client.get(url).content.decode()
        assert SUCCESS not in text and "cvc" not in text.lower(), url
        assert "4242" in text, url  # the last four, to recognise the card by
        assert token not in text, url  # the vault token: its end only


def test_a_reference_links_only_to_a_kind_an_app_named():
    assert reference_link("payout:7c1e0b56d1f94a8e9d0a2b7d1e3f4a5b").startswith('<a href="/admin/')
    assert reference_link("seller:12") == "seller:12"  # no page named for it: the text alone
    assert reference_link("payout:") == "payout:" and reference_link("") == "—"
