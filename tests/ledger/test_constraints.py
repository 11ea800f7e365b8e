"""The database's own last line of defence (models.py check and unique constraints), bypassing the
services: debits_must_not_exceed_credits means debits_pending + debits_posted <= credits_posted,
credits_must_not_exceed_debits the mirror image, and a pending transfer closes once."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.models import Account, Transfer
from tests.ledger.factories import CREDIT_LIMIT, DEBIT_LIMIT, account

pytestmark = pytest.mark.django_db


def rejected(**changes) -> bool:
    """Whether the database refuses setting these counters on the `subject` account."""
    try:
        with transaction.atomic():
            Account.objects.filter(code="subject").update(**changes)
    except IntegrityError:
        return True
    return False


def test_debit_limit_counts_pending_and_posted_debits():
    account("subject", limit=DEBIT_LIMIT)
    assert not rejected(credits_posted=100, debits_posted=60, debits_pending=40)
    assert rejected(credits_posted=100, debits_posted=60, debits_pending=41)
    assert rejected(credits_posted=100, debits_posted=101, debits_pending=0)
    # Pending credits are not spendable.
    assert not rejected(credits_posted=0, credits_pending=100, debits_posted=0, debits_pending=0)
    assert rejected(credits_posted=0, credits_pending=100, debits_posted=0, debits_pending=1)


def test_credit_limit_counts_pending_and_posted_credits():
    account("subject", limit=CREDIT_LIMIT)
    assert not rejected(debits_posted=100, credits_posted=70, credits_pending=30)
    assert rejected(debits_posted=100, credits_posted=70, credits_pending=31)
    assert not rejected(debits_posted=0, debits_pending=100, credits_posted=0, credits_pending=0)
    assert rejected(debits_posted=0, debits_pending=100, credits_posted=0, credits_pending=1)


def test_counters_are_never_negative_and_one_flag_at_most():
    account("subject")
    assert rejected(debits_pending=-1)
    assert rejected(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True)


def test_a_pending_transfer_closes_once_whatever_the_service_does():
    source, target = account("external:card"), account("platform:escrow")
    now = timezone.now()
    common = {
        "debit_account": source,
        "credit_account": target,
        "currency": "USD",
        "reason": "test",
        "created_at": now,
    }
    pending = Transfer.objects.create(id=uuid.uuid4(), kind="pending", amount_minor=10, **common)
    Transfer.objects.create(
        id=uuid.uuid4(), kind="post_pending", pending=pending, amount_minor=10, **common
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(
            id=uuid.uuid4(), kind="void_pending", pending=pending, amount_minor=10, **common
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(id=uuid.uuid4(), kind="posted", amount_minor=0, **common)
