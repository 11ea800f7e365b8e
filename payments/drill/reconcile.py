"""After the run: every payment against the processor's record of its charge and the ledger's
transfers, every client's answer against the payment it names, and ledger_verify.

    stuck                  a payment not final (created; authorised though capture is automatic),
                           or one whose state disagrees with the processor's charge
    paid_twice             an order with more than one captured payment, or a payment with more
                           captured (at the processor or in the ledger) than its amount
    clients_without_answer an operation a client never got a final answer to, or an answer that
                           named no payment of the order or another state than its final one
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Sum

from ledger.models import Transfer
from ledger.verification import verify_ledger
from payments.drill.clients import Tally
from payments.models import Payment
from payments.providers.models import SandboxCardCharge

# The state a charge at the processor leaves a card payment in, once applied.
_SETTLED = {"captured": "captured", "failed": "failed"}


@dataclass
class Reconciliation:
    requests: int
    http_500: int
    clients_without_answer: int
    paid_twice: int
    stuck: int
    ledger_verify: str
    payments: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.http_500 == self.clients_without_answer == self.paid_twice == self.stuck == 0
            and self.ledger_verify == "clean"
        )

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "http_500": self.http_500,
            "clients_without_answer": self.clients_without_answer,
            "paid_twice": self.paid_twice,
            "stuck": self.stuck,
            "ledger_verify": self.ledger_verify,
        }


def not_final_count() -> int:
    return Payment.objects.filter(status__in=("created", "authorized")).count()


def reconcile(tally: Tally) -> Reconciliation:
    problems: list[str] = []
    payments = list(Payment.objects.all())
    charges = {c.idempotency_key: c for c in SandboxCardCharge.objects.all()}
    ledger: dict[tuple[str, str], int] = {
        (row["reference"], row["reason"]): row["total"]
        for row in Transfer.objects.filter(reference__startswith="payment:")
        .values("reference", "reason")
        .annotate(total=Sum("amount_minor"))
    }
    stuck, paid_twice = 0, 0
    captured_per_order: Counter = Counter()
    by_id = {str(p.id): p for p in payments}
    for payment in payments:
        charge = charges.get(f"payment:{payment.id}:authorize")
        captured_in_ledger = ledger.get((f"payment:{payment.id}", "payment_captured"), 0)
        expected = _SETTLED.get(charge.status, "?") if charge is not None else "failed"
        if payment.status == "captured":
            captured_per_order[payment.order_id] += 1
        if payment.status != expected:
            stuck += 1
            charged = f"{charge.status} {charge.captured_minor}" if charge else "no charge"
            problems.append(f"payment {payment.id} is {payment.status}; processor: {charged}")
        over = max(
            (charge.captured_minor if charge else 0) - payment.amount_minor,
            captured_in_ledger - payment.amount_minor,
        )
        wanted_in_ledger = payment.amount_minor if payment.status == "captured" else 0
        if over > 0:
            paid_twice += 1
            problems.append(f"payment {payment.id}: {over} captured beyond its amount")
        elif captured_in_ledger != wanted_in_ledger:
            stuck += 1
            problems.append(
                f"payment {payment.id} ({payment.status}): ledger captured {captured_in_ledger}"
            )
    for order_id, count in captured_per_order.items():
        if count > 1:
            paid_twice += 1
            problems.append(f"order {order_id}: {count} captured payments")
    without_answer = tally.without_answer
    for order_id, (payment_id, _status) in tally.answered.items():
        payment = by_id.get(payment_id)
        if payment is None or str(payment.order_id) != order_id:
            without_answer += 1
            problems.append(f"order {order_id}: the client was told of payment {payment_id}")
    problems.extend(tally.wrong_answers[:20])
    report = verify_ledger(check_leaves=True)
    problems.extend(report.problems[:20])
    return Reconciliation(
        requests=tally.requests,
        http_500=tally.http_500,
        clients_without_answer=without_answer,
        paid_twice=paid_twice,
        stuck=stuck,
        ledger_verify="clean" if report.ok else f"{report.problem_count} problems",
        payments=Counter(p.status for p in payments),
        problems=problems,
    )
