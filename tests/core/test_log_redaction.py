"""Card numbers never reach a log line; other long numbers stay readable."""

import pytest

from core.logging import redact


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("card 4242424242424242 declined", "4242424242424242"),
        ("card 4242 4242 4242 4242", "4242 4242 4242 4242"),
        ("card 4242-4242-4242-4242.", "4242-4242-4242-4242"),
        ("pan=4000000000000002", "4000000000000002"),
        ("amex 378282246310005", "378282246310005"),
        ("19 digits 6011000990139424124", "6011000990139424124"),
    ],
)
def test_card_shaped_numbers_are_masked(text, number):
    assert redact(text) == text.replace(number, "[redacted-pan]")


@pytest.mark.parametrize(
    "text",
    [
        "Task x succeeded in 0.012345678901234s: None",  # Celery's duration
        "order 123456789012 paid",  # 12 digits: no PAN is that short
        "amount_minor=1999",
        # A Celery task id: its dashes join hex groups, whatever digits they hold.
        "Task t[12345678-1234-4234-8234-123456789012] succeeded in 0.01s: None",
        "Task t[3f0c8f4e-6a43-4c1e-9a53-424242424242] received",
        # 16 and 19 digits that fail Luhn: ids and references, not card numbers.
        "order 1234567890123456 paid",
        "ref 9876543210987654321",
        # Digits inside a word.
        "key ch_live_4242424242424242x",
    ],
)
def test_other_numbers_are_left_alone(text):
    assert redact(text) == text
