"""Re-wrap every vaulted card's data key, and every webhook endpoint secret's data key, under the
newest master key (CLEARHOUSE_MASTER_KEYS).

Put the new key first in the ring (keep the old ones), deploy, run this; remove an old key only
when this reports 0 failed. Safe while the site runs: one short transaction per card.
"""

from django.core.management.base import BaseCommand, CommandError

from payments.vault.services import vault_rotate_keys
from payments.webhooks.signing import webhook_rotate_keys


class Command(BaseCommand):
    help = "Re-wrap vaulted cards' and webhook secrets' data keys under the newest master key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None, help="cards per batch (default 200)"
        )

    def handle(self, *args, batch_size=None, **options):
        if batch_size is not None and not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        report = vault_rotate_keys(batch_size=batch_size)
        self.stdout.write(
            f"newest key {report.newest_key_id}: {report.rotated} re-wrapped, "
            f"{report.already_current} already current, {report.failed} failed"
        )
        webhooks = webhook_rotate_keys()
        self.stdout.write(
            f"webhook secrets: {webhooks.rotated} re-wrapped, {webhooks.failed} failed"
        )
        if webhooks.failed:
            raise CommandError(f"{webhooks.failed} webhook secret(s) could not be re-wrapped")
        if report.failed:
            raise CommandError(
                f"{report.failed} card(s) could not be re-wrapped (is their key still in the ring?): "
                + ", ".join(report.failed_tokens[:20])
            )
