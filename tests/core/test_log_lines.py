"""What the logs say: a Celery task line keeps its task id and duration, an email is one INFO
line, an expected 403/404 is one INFO line with its reason and no traceback, and a card number
never gets through (core/logging.py, core/mail.py, LOGGING in config/settings/base.py)."""

from __future__ import annotations

import io
import logging

import pytest
from celery.app.trace import LOG_SUCCESS
from django.core import mail
from django.test import Client

from core.logging import ExpectedClientErrorFilter, RedactCardDataFilter
from tests.storefront.factories import BuyerFactory

TASK_ID = "12345678-1234-4234-8234-123456789012"  # digit runs a PAN mask used to eat


@pytest.fixture
def log_lines(settings):
    """Every log line as the console handler would write it (the same filters), as text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactCardDataFilter())
    root = logging.getLogger()
    request_logger = logging.getLogger("django.request")
    added = None
    if not any(isinstance(f, ExpectedClientErrorFilter) for f in request_logger.filters):
        added = ExpectedClientErrorFilter()  # TEST_QUIET_LOGS=1 skips LOGGING: as configured
        request_logger.addFilter(added)
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)
    root.setLevel(old_level)
    if added:
        request_logger.removeFilter(added)


def _request_lines(lines: list[str]) -> list[str]:
    """The request's own lines (signing in logs its own), and nothing above INFO elsewhere."""
    assert [line for line in lines if not line.startswith("INFO ")] == []
    return [line for line in lines if " django.request " in line]


def test_logging_settings_wire_the_filters(settings):
    assert settings.LOGGING["loggers"]["django.request"]["filters"] == ["expected_client_errors"]
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["redact"]


def test_a_celery_task_line_keeps_its_task_id_and_duration(log_lines):
    logging.getLogger("celery.app.trace").info(
        LOG_SUCCESS,
        {
            "name": "payments.expire_due",
            "id": TASK_ID,
            "runtime": 0.0123456789012,
            "return_value": 3,
        },
    )

    assert log_lines() == [
        f"INFO celery.app.trace Task payments.expire_due[{TASK_ID}] succeeded in 0.0123456789012s: 3"
    ]


def test_a_card_number_is_masked_and_other_long_numbers_are_not(log_lines):
    logging.getLogger("payments").warning(
        "card 4242 4242 4242 4242 for order 1234567890123456 (ref 9876543210987654321)"
    )

    (line,) = log_lines()
    assert line == (
        "WARNING payments card [redacted-pan] for order 1234567890123456 (ref 9876543210987654321)"
    )
    assert "4242" not in line


@pytest.mark.django_db
def test_an_email_is_one_info_line_and_kept_whole_in_a_file(log_lines, settings, tmp_path):
    settings.EMAIL_BACKEND = "core.mail.FileAndLogEmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    body = "Your order CH-7K2M9Q is paid.\nTotal: €44.00\nReference 1234567890123456\n"

    mail.send_mail("Order CH-7K2M9Q paid", body, None, ["ada@example.test"])

    (line,) = log_lines()
    assert line.startswith(
        "INFO clearhouse.email email to ada@example.test: Order CH-7K2M9Q paid (kept in "
    )
    (kept,) = tmp_path.iterdir()
    assert "Reference 1234567890123456" in kept.read_text()


@pytest.mark.django_db
def test_an_expected_403_is_one_info_line_with_its_true_reason(log_lines):
    client = Client()
    client.force_login(BuyerFactory())

    response = client.post("/api/v1/checkout/sessions", {}, content_type="application/json")

    assert response.status_code == 403
    assert _request_lines(log_lines()) == [
        "INFO django.request Forbidden: /api/v1/checkout/sessions "
        "(permission_denied: Only sellers use checkout sessions.)"
    ]


@pytest.mark.django_db
def test_an_expected_404_page_is_one_info_line_without_a_traceback(log_lines):
    client = Client()
    client.force_login(BuyerFactory())

    response = client.get("/orders/3f0c8f4e-6a43-4c1e-9a53-4b1d2f6d9e21/")

    assert response.status_code == 404
    assert b'data-testid="error-page"' in response.content
    lines = _request_lines(log_lines())
    assert len(lines) == 1 and lines[0].startswith("INFO django.request Not Found: /orders/")
