"""Ledger in the admin: read-only. Money moves only through ledger.services; the log, its queues
and its seals are written by the ledger's own tasks and shown here as they are (hashes in hex)."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import (
    ReadOnlyAdmin,
    change_link,
    changelist_link,
    money_column,
    reference_link,
)
from ledger.models import (
    Account,
    BalanceDelta,
    LogEntry,
    LogQueue,
    LogRecord,
    LogRecordQueue,
    Seal,
    Transfer,
)


def _hex(value) -> str:
    return bytes(value).hex() if value is not None else "—"


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "code",
        "currency",
        "owner_ref",
        money_column("debits_posted", label="Debits posted"),
        money_column("credits_posted", label="Credits posted"),
        money_column("debits_pending", label="Debits pending"),
        money_column("credits_pending", label="Credits pending"),
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        "created_at",
    )
    list_filter = (
        "currency",
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=id", "code", "owner_ref")
    ordering = ("currency", "code")
    date_hierarchy = "created_at"


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    """Filter by `?reference=order:12` or `?reference__in=a,b` (an exact, indexed match): the
    links from a sub-order's page use it."""

    list_display = (
        "id",
        "created_at",
        "kind",
        money_column("amount_minor", label="Amount"),
        "debit_account",
        "credit_account",
        "reason",
        "reference_page",
    )
    list_filter = ("currency", "kind", "reason", ("created_at", admin.DateFieldListFilter))
    search_fields = (
        "=id",
        "=pending__id",
        "=batch_id",
        "reference",
        "debit_account__code",
        "credit_account__code",
    )
    list_select_related = ("debit_account", "credit_account")
    raw_id_fields = ("debit_account", "credit_account", "pending")
    readonly_fields = ("amount", "reference_page", "log_entry_link", "same_reference")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    amount = money_column("amount_minor", label="Amount")

    @admin.display(description="log entry")
    def log_entry_link(self, obj: Transfer) -> str:
        entry = LogEntry.objects.filter(transfer_id=obj.pk).first()
        return change_link(entry, f"log index {entry.index}") if entry else "not in the log yet"

    @admin.display(description="reference", ordering="reference")
    def reference_page(self, obj: Transfer) -> str:
        """The reference, linked to what it names (a sub-order, a payout, ...)."""
        return reference_link(obj.reference)

    @admin.display(description="same reference")
    def same_reference(self, obj: Transfer) -> str:
        if not obj.reference:
            return "—"
        return changelist_link(
            "ledger_transfer", {"reference": obj.reference}, f"transfers of {obj.reference}"
        )


@admin.register(BalanceDelta)
class BalanceDeltaAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        money_column("debits_pending", label="Debits pending", currency_field="account__currency"),
        money_column("debits_posted", label="Debits posted", currency_field="account__currency"),
        money_column(
            "credits_pending", label="Credits pending", currency_field="account__currency"
        ),
        money_column("credits_posted", label="Credits posted", currency_field="account__currency"),
    )
    list_filter = ("account__currency",)
    search_fields = ("=account__id", "account__code")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    ordering = ("-id",)


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """The sealed log: each index holds one transfer or one record, with its leaf hash."""

    list_display = ("index", "transfer", "record", "leaf")
    search_fields = ("=index", "=transfer__id", "=record__id", "transfer__reference")
    list_select_related = ("transfer", "record")
    ordering = ("-index",)
    show_full_result_count = False
    fields = ("index", "transfer_link", "record_link", "leaf")
    readonly_fields = fields

    @admin.display(description="leaf hash")
    def leaf(self, obj: LogEntry) -> str:
        return _hex(obj.leaf_hash)

    @admin.display(description="transfer")
    def transfer_link(self, obj: LogEntry) -> str:
        return change_link(obj.transfer)

    @admin.display(description="record")
    def record_link(self, obj: LogEntry) -> str:
        return change_link(obj.record)


@admin.register(LogQueue)
class LogQueueAdmin(ReadOnlyAdmin):
    """Transfers committed and waiting for their place in the log (normally a short list)."""

    list_display = ("transfer_id", "transfer")
    search_fields = ("=transfer__id", "transfer__reference")
    list_select_related = ("transfer",)
    ordering = ("transfer__created_at",)
    fields = ("transfer_link",)
    readonly_fields = fields

    @admin.display(description="transfer")
    def transfer_link(self, obj: LogQueue) -> str:
        return change_link(obj.transfer)


@admin.register(LogRecord)
class LogRecordAdmin(ReadOnlyAdmin):
    """Records other apps put in the log (receipts, confirmations): their kind and size; the
    bytes are the owning app's to read."""

    list_display = ("id", "kind", "size", "created_at")
    list_filter = ("kind",)
    search_fields = ("=id", "kind")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    fields = ("id", "kind", "size", "created_at")
    readonly_fields = fields

    @admin.display(description="payload bytes")
    def size(self, obj: LogRecord) -> int:
        return len(obj.payload or b"")


@admin.register(LogRecordQueue)
class LogRecordQueueAdmin(ReadOnlyAdmin):
    list_display = ("record_id", "record")
    search_fields = ("=record__id", "record__kind")
    list_select_related = ("record",)
    ordering = ("record__created_at",)
    fields = ("record_link",)
    readonly_fields = fields

    @admin.display(description="record")
    def record_link(self, obj: LogRecordQueue) -> str:
        return change_link(obj.record)


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    """Signed tree heads: the log's size and root at a time, each chained to the one before."""

    list_display = ("tree_size", "sealed_at", "root", "key_id")
    list_filter = ("key_id",)
    search_fields = ("=tree_size", "key_id")
    date_hierarchy = "sealed_at"
    ordering = ("-tree_size",)
    fields = ("tree_size", "sealed_at", "root", "previous", "key_id", "signature_hex")
    readonly_fields = fields

    @admin.display(description="root hash")
    def root(self, obj: Seal) -> str:
        return _hex(obj.root_hash)

    @admin.display(description="previous head's hash")
    def previous(self, obj: Seal) -> str:
        return _hex(obj.previous_hash)

    @admin.display(description="signature")
    def signature_hex(self, obj: Seal) -> str:
        return _hex(obj.signature)
