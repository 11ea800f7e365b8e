"""Logging filter that masks anything shaped like a card number before it is written anywhere."""

import logging
import re

# 13-19 digits, optionally grouped by spaces or dashes: the shape of a PAN. Not after a decimal
# point: Celery's "succeeded in 0.0123456789012s" is a duration, and no PAN follows a ".".
_PAN = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?!\d)")


def redact(text: str) -> str:
    return _PAN.sub(lambda m: "[redacted-pan]", text)


class RedactCardDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
