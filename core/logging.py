"""Logging filters: card numbers masked before anything is written, and the 4xx answers a client
earned told in one line.

A card number is 13 to 19 digits (optionally grouped by spaces or dashes) that pass the Luhn check,
standing alone: not part of a longer word or number. So a Celery task id (a UUID, whose dashes
join hex groups), a duration after a decimal point ("succeeded in 0.0123456789012s") or an id that
fails Luhn stay readable; every number a processor would take as a card is masked.
"""

from __future__ import annotations

import logging
import re

# Not after a word character, a decimal point or a "x-" joint (inside a UUID); not before
# another word character or a "-x" joint.
_PAN = re.compile(r"(?<![\w.])(?<!\w-)(?:\d[ -]?){12,18}\d(?!\w)(?!-\w)")
REDACTED = "[redacted-pan]"


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return REDACTED if luhn_valid(digits) else match.group()


def redact(text: str) -> str:
    return _PAN.sub(_mask, text)


class RedactCardDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# --- expected client errors --------------------------------------------------------------------

# Set on the HttpRequest by the API's exception handler (core.api.errors): "code: message".
ERROR_REASON_ATTRIBUTE = "clearhouse_error_reason"
# Answers a client earns by what it sent: a fact about the request, not a fault of the service.
EXPECTED_CLIENT_STATUSES = frozenset({401, 403, 404, 405})


class ExpectedClientErrorFilter(logging.Filter):
    """On django.request: a 401/403/404/405 is one INFO line that says why (the exception's or
    the API error's message), without a traceback; other 4xx stay WARNING, 5xx ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) not in EXPECTED_CLIENT_STATUSES:
            return True
        reason = getattr(getattr(record, "request", None), ERROR_REASON_ATTRIBUTE, "")
        if not reason and record.exc_info and record.exc_info[1] is not None:
            reason = str(record.exc_info[1])
        message = record.getMessage()
        record.msg, record.args = (f"{message} ({reason})" if reason else message), None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True
