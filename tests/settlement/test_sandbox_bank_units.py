"""The sandbox bank's parts on their own (no process): IBAN and reference checks, name matching,
amounts on paper, seeded faults, request signatures as both sides compute them, the database
reset, and the platform's gateway settings."""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from sandbox_bank import validation
from sandbox_bank.auth import RequestVerifier
from sandbox_bank.errors import BadRequest, Unauthorized
from sandbox_bank.faults import Faults, Knobs, knobs_from_env
from sandbox_bank.money import decimal_text
from sandbox_bank.store import Database, reset_database
from settlement.gateways.base import BankUnavailable
from settlement.gateways.http import Session
from settlement.gateways.registry import get_bank_gateway
from settlement.gateways.sandbox import (
    SandboxBankGateway,
    bank_public_key_pem,
    signing_key_pem,
)

SEED = base64.b64encode(bytes(range(32))).decode()
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


# --- IBANs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "DE89370400440532013001",  # check digits do not match
        "DE8937040044053201300",  # one digit short for Germany
        "DE893704004405320130000",  # one digit too many
        "XX89370400440532013000",  # no such country
        "GB82WEST1234569876543A",  # letters where the UK format has digits
        "DE89-3704-0044-0532-0130-00",  # not how an IBAN is written
        "NOT AN IBAN",
        "",
        "   ",
        None,
        12345,
        "DE" + "8" * 100,
    ],
)
def test_iban_validation_refuses(value):
    with pytest.raises(BadRequest) as refused:
        validation.iban(value, field="creditor_iban")

    assert refused.value.code == "invalid_iban"
    assert refused.value.field == "creditor_iban"
    assert refused.value.status == 422


@pytest.mark.parametrize(
    ("value", "compact"),
    [
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
    ],
)
def test_iban_validation_accepts_and_compacts(value, compact):
    assert validation.iban(value) == compact


@pytest.mark.parametrize(
    ("reference", "valid"),
    [
        ("RF18 5390 0754 7034", True),
        ("rf18539007547034", True),
        ("RF19 5390 0754 7034", False),  # check digits wrong
        ("RF18", False),
        ("RF18" + "1" * 22, False),  # body longer than 21
        ("XX18539007547034", False),
    ],
)
def test_rf_reference_validation(reference, valid):
    if valid:
        assert validation.rf_reference(reference) == "RF18539007547034"
    else:
        with pytest.raises(BadRequest):
            validation.rf_reference(reference)


@pytest.mark.parametrize(
    ("given", "holder", "same"),
    [
        ("Anna Müller", "anna muller", True),
        ("Müller, Anna", "Anna Müller", True),
        ("ACME GmbH", "Acme", True),
        ("Anna Müller", "Anna Miller", False),
        ("Anna", "Anna Müller", False),
        ("GmbH", "GmbH", False),  # nothing left to compare is no match
    ],
)
def test_holder_names_match_ignoring_case_accents_order_and_legal_form(given, holder, same):
    assert validation.names_match(given, holder) is same


@pytest.mark.parametrize(
    "payout_id",
    ["", "-po", "po_1", "po 1", "po/1", "a" * 36, "9b2f3c1e-9a4e-4c44-8f8e-6a1f1f2b3c4d"],
)
def test_payout_ids_that_cannot_be_an_end_to_end_id_are_refused(payout_id):
    with pytest.raises(BadRequest):
        validation.transfer_id(payout_id)


def test_a_uuid_hex_is_a_payout_id():
    assert validation.transfer_id("9b2f3c1e9a4e4c448f8e6a1f1f2b3c4d")


@pytest.mark.parametrize(
    ("amount_minor", "currency", "text"),
    [(123450, "EUR", "1234.50"), (5, "EUR", "0.05"), (1234, "JPY", "1234"), (1234, "KWD", "1.234")],
)
def test_amounts_on_paper_have_the_currency_s_decimals(amount_minor, currency, text):
    assert decimal_text(amount_minor, currency) == text


# --- faults --------------------------------------------------------------------------------------


def test_the_same_seed_makes_the_same_fault_decisions():
    first, second = Faults(Knobs(seed=7)), Faults(Knobs(seed=7))

    draws = [[f.chance(0.5) for _ in range(200)] for f in (first, second)]

    assert draws[0] == draws[1]
    assert 50 < sum(draws[0]) < 150


def test_fault_knobs_out_of_range_are_refused_and_nothing_changes():
    faults = Faults(Knobs(error_rate=0.1))

    for bad in ({"error_rate": 1.5}, {"error_mode": "sometimes"}, {"latency_ms": -1}, {"nope": 1}):
        with pytest.raises(BadRequest):
            faults.update({"timeout_rate": 0.5, **bad})

    assert faults.knobs == Knobs(error_rate=0.1)


def test_fault_knobs_from_the_environment():
    knobs = knobs_from_env({"SANDBOX_BANK_ERROR_RATE": "0.25", "SANDBOX_BANK_LATENCY_MS": "40"})

    assert (knobs.error_rate, knobs.latency_ms) == (0.25, 40)
    with pytest.raises(ValueError, match="SANDBOX_BANK_ERROR_RATE"):
        knobs_from_env({"SANDBOX_BANK_ERROR_RATE": "2"})


# --- request signatures: the platform signs what the bank checks ---------------------------------


def _verifier() -> RequestVerifier:
    return RequestVerifier(bank_public_key_pem(SEED), tolerance_s=300)


def _gateway(**overrides) -> SandboxBankGateway:
    return SandboxBankGateway(
        **{
            "base_url": "http://127.0.0.1:9",
            "signing_key": SEED,
            "webhook_secret": SECRET,
            **overrides,
        }
    )


def test_a_platform_signature_verifies_at_the_bank():
    body = b'{"payout_id":"po-1"}'
    headers = {
        k.lower(): v for k, v in _gateway().signed_headers("POST", "/transfers", body).items()
    }

    _verifier().verify(method="POST", target="/transfers", headers=headers, body=body)


@pytest.mark.parametrize(
    ("method", "target", "body", "shift_s"),
    [
        ("GET", "/transfers", b'{"payout_id":"po-1"}', 0),
        ("POST", "/transfers/po-1", b'{"payout_id":"po-1"}', 0),
        ("POST", "/transfers", b'{"payout_id":"po-2"}', 0),
        ("POST", "/transfers", b'{"payout_id":"po-1"}', 301),
    ],
    ids=["other-method", "other-path", "other-body", "stale"],
)
def test_a_signature_over_anything_else_is_refused(method, target, body, shift_s):
    signed = b'{"payout_id":"po-1"}'
    headers = {
        k.lower(): v for k, v in _gateway().signed_headers("POST", "/transfers", signed).items()
    }

    with pytest.raises(Unauthorized):
        _verifier().verify(
            method=method, target=target, headers=headers, body=body, now=time.time() + shift_s
        )


def test_the_signing_key_may_be_a_seed_or_a_pem():
    pem = signing_key_pem(SEED)

    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert bank_public_key_pem(pem) == bank_public_key_pem(SEED)
    for bad in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ImproperlyConfigured):
            signing_key_pem(bad)


def test_the_gateway_refuses_to_be_built_half_configured():
    with pytest.raises(ImproperlyConfigured):
        _gateway(webhook_secret="")
    with pytest.raises(ImproperlyConfigured):
        _gateway(base_url="ftp://bank")
    with pytest.raises(ImproperlyConfigured):
        _gateway(signing_key="")


def test_the_registry_builds_the_configured_gateway(settings):
    settings.SANDBOX_BANK_URL = "http://127.0.0.1:8765"

    gateway = get_bank_gateway()

    assert isinstance(gateway, SandboxBankGateway)
    assert gateway.base_url == "http://127.0.0.1:8765"
    settings.CLEARHOUSE_BANK_GATEWAY = "no-such-bank"
    with pytest.raises(ImproperlyConfigured):
        get_bank_gateway()


# --- the bank's database -------------------------------------------------------------------------


def test_reset_removes_the_database_and_its_journal_files(tmp_path):
    path = tmp_path / "bank.sqlite3"
    database = Database(path)
    database.create_schema()
    with database.write() as connection:
        connection.execute(
            "INSERT INTO accounts (iban, bic, holder_name, currency, opening_balance_minor,"
            " balance_minor, created_at) VALUES ('DE89370400440532013000', '', 'A', 'EUR', 0, 0, '')"
        )
    database.close()

    removed = reset_database(path)

    assert path in removed
    assert not path.exists()
    fresh = Database(path)
    fresh.create_schema()
    assert fresh.connection().execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0


# --- kept-alive connections to the bank ----------------------------------------------------------


class _ClosesAfterEachAnswer(BaseHTTPRequestHandler):
    """Answers HTTP/1.1 as if keeping the connection, then closes it (as an idle timeout would)."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_GET(self):
        type(self).seen.append(self.path)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format, *args):  # quiet
        pass


def test_a_kept_alive_connection_the_server_closed_is_reopened_once_and_the_request_sent_again():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterEachAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        session = Session(f"http://127.0.0.1:{server.server_port}", timeout_s=5)
        first = session.exchange("GET", "/one", headers={}, body=None)
        time.sleep(0.1)  # the server has closed its end by now
        second = session.exchange("GET", "/two", headers={}, body=None)
    finally:
        server.shutdown()
        server.server_close()

    assert (first.status, second.status) == (200, 200)
    assert _ClosesAfterEachAnswer.seen == ["/one", "/two"]  # each sent once to the server


def test_no_bank_at_the_address_is_bank_unavailable_not_a_retry_loop():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = Session(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(BankUnavailable):
        session.exchange("GET", "/transfers", headers={}, body=None)
