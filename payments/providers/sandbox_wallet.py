"""The sandbox wallets: an Alipay-style and a WeChat-Pay-style wallet, played inside the process.

Each keeps its own trades (SandboxWalletTrade). When the buyer approves or cancels on the wallet's
own page (/pay/wallet/<id>/approve/, the stand-in for the wallet app), the wallet owes the
platform an asynchronous notification: a SandboxWalletNotice row, delivered by a Celery task
(enqueued on commit) that POSTs the form to the trade's notify_url over HTTP and retries with
backoff until the platform answers "success", exactly as Alipay's asynchronous notifications do.

Notifications are signed the Alipay way ("RSA2"): RSA-SHA256 with PKCS#1 v1.5 padding over the
parameters sorted by name as key=value joined by "&", leaving out `sign`, `sign_type` and empty
values; the signature is base64 in `sign`. Both wallets use this format here (the real WeChat Pay
v3 signs differently; the sandbox keeps one format and a key per wallet).
"""

from __future__ import annotations

import base64
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import crypto
from payments.amounts import minor_to_decimal
from payments.providers.base import ProviderError
from payments.providers.models import SandboxOperation, SandboxWalletNotice, SandboxWalletTrade
from payments.providers.wallet_keys import sandbox_private_key

logger = logging.getLogger(__name__)

APP_IDS = {"alipay": "2021000000000001", "wechat": "wx0000000000000001"}
WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_SUCCESS = "TRADE_SUCCESS"  # approved by the buyer: funds held for the merchant
TRADE_FINISHED = "TRADE_FINISHED"  # captured
TRADE_CLOSED = "TRADE_CLOSED"  # cancelled, timed out, or released before capture
_NOTIFY_FIELDS_MAX = 50


def signing_string(params: dict[str, str]) -> bytes:
    """Alipay's string to sign: sorted key=value pairs joined by &, without sign/sign_type/empty."""
    pairs = [
        f"{key}={value}"
        for key, value in sorted(params.items())
        if key not in {"sign", "sign_type"} and value not in ("", None)
    ]
    return "&".join(pairs).encode("utf-8")


def rsa2_sign(params: dict[str, str], private_pem: str) -> str:
    return base64.b64encode(crypto.rsa_pkcs1v15_sign(private_pem, signing_string(params))).decode()


def http_post_form(url: str, params: dict[str, str], *, timeout_s: float = 10) -> tuple[int, str]:
    """POST a form; returns (HTTP status, first KiB of the body); status 0 if unreachable."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        return 0, "notify_url must be http(s)"
    body = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return response.status, response.read(1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1024).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


# How notices travel; tests swap in the Django test client. (url, params) -> (status, body)
transport: Callable[[str, dict[str, str]], tuple[int, str]] = http_post_form


def _trade_dict(trade: SandboxWalletTrade) -> dict:
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "status": trade.status,
        "amount_minor": trade.amount_minor,
        "currency": trade.currency,
        "captured_minor": trade.captured_minor,
        "refunded_minor": trade.refunded_minor,
    }


class SandboxWallet:
    def __init__(self, wallet: str) -> None:
        assert wallet in APP_IDS
        self.wallet = wallet
        self.app_id = APP_IDS[wallet]

    # --- the merchant API (called by the platform's provider) -----------------------------------
    def precreate(
        self,
        *,
        out_trade_no: str,
        amount_minor: int,
        currency: str,
        subject: str,
        notify_url: str,
    ) -> dict:
        """Create a trade awaiting the buyer; the same out_trade_no returns the same trade."""
        existing = SandboxWalletTrade.objects.filter(
            provider=self.wallet, out_trade_no=out_trade_no
        ).first()
        if existing is None:
            try:
                with transaction.atomic():
                    existing = SandboxWalletTrade.objects.create(
                        provider=self.wallet,
                        trade_no=f"{self.wallet[:2].upper()}{secrets.token_hex(12)}",
                        out_trade_no=out_trade_no,
                        amount_minor=amount_minor,
                        currency=currency,
                        subject=subject[:256],
                        status=WAIT_BUYER_PAY,
                        notify_url=notify_url,
                    )
            except IntegrityError:
                existing = SandboxWalletTrade.objects.get(
                    provider=self.wallet, out_trade_no=out_trade_no
                )
        if existing.amount_minor != amount_minor or existing.currency != currency:
            raise ProviderError(
                "out_trade_no reused with another amount.", code="idempotency_mismatch"
            )
        return _trade_dict(existing)

    def query(self, *, trade_no: str) -> dict:
        trade = SandboxWalletTrade.objects.filter(provider=self.wallet, trade_no=trade_no).first()
        if trade is None:
            raise ProviderError("No such trade.", code="no_such_trade")
        return _trade_dict(trade)

    def trade_for(self, *, out_trade_no: str) -> SandboxWalletTrade | None:
        return SandboxWalletTrade.objects.filter(
            provider=self.wallet, out_trade_no=out_trade_no
        ).first()

    def _operation(self, *, kind: str, trade_no: str, amount_minor: int | None, key: str) -> dict:
        done = SandboxOperation.objects.filter(processor=self.wallet, idempotency_key=key).first()
        if done is not None:
            return done.result
        try:
            with transaction.atomic():
                operation = SandboxOperation.objects.create(
                    processor=self.wallet,
                    idempotency_key=key,
                    reference=trade_no,
                    kind=kind,
                    amount_minor=amount_minor or 0,
                )
                trade = (
                    SandboxWalletTrade.objects.select_for_update()
                    .filter(provider=self.wallet, trade_no=trade_no)
                    .first()
                )
                if trade is None:
                    raise ProviderError("No such trade.", code="no_such_trade")
                if kind in {"capture_part", "release_part"}:
                    # Multicapture: pieces of what is still uncaptured, one per sub-order.
                    if trade.status != TRADE_SUCCESS:
                        raise ProviderError("The buyer has not paid.", code="not_authorized")
                    released = sum(
                        SandboxOperation.objects.filter(
                            processor=self.wallet, reference=trade_no, kind="release_part"
                        )
                        .exclude(pk=operation.pk)
                        .values_list("amount_minor", flat=True)
                    )
                    uncaptured = trade.amount_minor - trade.captured_minor - released
                    if amount_minor is None or not 0 < amount_minor <= uncaptured:
                        raise ProviderError("Amount out of range.", code="amount_out_of_range")
                    if kind == "capture_part":
                        trade.captured_minor += amount_minor
                    if uncaptured == amount_minor:
                        trade.status = TRADE_FINISHED if trade.captured_minor else TRADE_CLOSED
                elif kind == "capture":
                    if trade.captured_minor:
                        raise ProviderError("This trade is captured in parts.", code="multicapture")
                    if trade.status != TRADE_SUCCESS:
                        raise ProviderError("The buyer has not paid.", code="not_authorized")
                    # A part released already is gone: only the rest can be captured.
                    left = trade.amount_minor - sum(
                        SandboxOperation.objects.filter(
                            processor=self.wallet, reference=trade_no, kind="release_part"
                        ).values_list("amount_minor", flat=True)
                    )
                    amount = trade.amount_minor if amount_minor is None else amount_minor
                    if not 0 < amount <= left:
                        raise ProviderError(
                            "Capture amount out of range.", code="amount_out_of_range"
                        )
                    trade.status, trade.captured_minor = TRADE_FINISHED, amount
                elif kind == "void":
                    if trade.captured_minor or trade.status not in {WAIT_BUYER_PAY, TRADE_SUCCESS}:
                        raise ProviderError("The trade cannot be closed.", code="not_voidable")
                    trade.status = TRADE_CLOSED
                elif kind == "refund":
                    remaining = trade.captured_minor - trade.refunded_minor
                    if trade.status != TRADE_FINISHED and not trade.captured_minor:
                        raise ProviderError(
                            "Only a finished trade can be refunded.", code="not_captured"
                        )
                    if amount_minor is None or not 0 < amount_minor <= remaining:
                        raise ProviderError(
                            "Refund amount out of range.", code="amount_out_of_range"
                        )
                    trade.refunded_minor += amount_minor
                trade.save()
                operation.result = _trade_dict(trade)
                operation.save(update_fields=["result"])
        except IntegrityError:
            return SandboxOperation.objects.get(processor=self.wallet, idempotency_key=key).result
        return operation.result

    def capture(self, *, trade_no: str, amount_minor: int | None, idempotency_key: str) -> dict:
        return self._operation(
            kind="capture", trade_no=trade_no, amount_minor=amount_minor, key=idempotency_key
        )

    def capture_part(self, *, trade_no: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="capture_part", trade_no=trade_no, amount_minor=amount_minor, key=idempotency_key
        )

    def release_part(self, *, trade_no: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="release_part", trade_no=trade_no, amount_minor=amount_minor, key=idempotency_key
        )

    def close(self, *, trade_no: str, idempotency_key: str) -> dict:
        return self._operation(
            kind="void", trade_no=trade_no, amount_minor=None, key=idempotency_key
        )

    def refund(self, *, trade_no: str, amount_minor: int, idempotency_key: str) -> dict:
        return self._operation(
            kind="refund", trade_no=trade_no, amount_minor=amount_minor, key=idempotency_key
        )

    # --- the buyer, in the wallet app ------------------------------------------------------------
    def buyer_decide(self, *, trade_no: str, approve: bool) -> SandboxWalletNotice | None:
        """The buyer approves (pays) or cancels in the wallet app. The wallet then owes the
        platform a notification, sent by a task once this commits. Deciding twice changes nothing."""
        with transaction.atomic():
            trade = (
                SandboxWalletTrade.objects.select_for_update()
                .filter(provider=self.wallet, trade_no=trade_no)
                .first()
            )
            if trade is None:
                raise ProviderError("No such trade.", code="no_such_trade")
            if trade.status != WAIT_BUYER_PAY:
                return None
            trade.status = TRADE_SUCCESS if approve else TRADE_CLOSED
            trade.save(update_fields=["status", "updated_at"])
            notice = self.make_notice(trade)
            schedule_delivery(notice.id)
        logger.info("sandbox %s: trade %s -> %s", self.wallet, trade.trade_no, trade.status)
        return notice

    def notification_params(self, trade: SandboxWalletTrade, *, notify_id: str) -> dict[str, str]:
        now = timezone.now()
        params = {
            "notify_time": now.strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": notify_id,
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": minor_to_decimal(trade.amount_minor, trade.currency),
            "currency": trade.currency,
            "subject": trade.subject,
        }
        if trade.status == TRADE_SUCCESS:
            params["gmt_payment"] = now.strftime("%Y-%m-%d %H:%M:%S")
        params["sign_type"] = "RSA2"
        params["sign"] = rsa2_sign(params, sandbox_private_key(self.wallet))
        return params

    def make_notice(self, trade: SandboxWalletTrade) -> SandboxWalletNotice:
        notify_id = secrets.token_hex(16)
        return SandboxWalletNotice.objects.create(
            trade=trade,
            notify_id=notify_id,
            params=self.notification_params(trade, notify_id=notify_id),
        )


def schedule_delivery(notice_id: int) -> None:
    # tasks.py imports this module: the task is looked up when it is enqueued.
    from payments.providers.tasks import sandbox_wallet_deliver_notice

    transaction.on_commit(lambda: sandbox_wallet_deliver_notice.delay(notice_id))


def deliver_notice(*, notice_id: int) -> bool:
    """One delivery attempt; True once the platform has answered "success"."""
    notice = SandboxWalletNotice.objects.select_related("trade").filter(pk=notice_id).first()
    if notice is None:
        return True  # nothing left to deliver
    if notice.acknowledged_at is not None:
        return True
    status, body = transport(notice.trade.notify_url, notice.params)
    acknowledged = status == 200 and body.strip() == "success"
    SandboxWalletNotice.objects.filter(pk=notice.pk).update(
        attempts=F("attempts") + 1,
        acknowledged_at=timezone.now() if acknowledged else None,
        last_error="" if acknowledged else f"HTTP {status}: {body[:200]}",
    )
    logger.info(
        "sandbox wallet: notice %s to %s -> HTTP %s %s",
        notice.notify_id,
        notice.trade.notify_url,
        status,
        "acknowledged" if acknowledged else "not acknowledged",
    )
    return acknowledged


wallets = {name: SandboxWallet(name) for name in APP_IDS}
