"""manage.py verify_receipt FILE [--keys KEYS]: check a receipt file with tools/verify_receipt.py
(the one implementation), against a published keys file or, by default, this platform's keys as
/.well-known/clearhouse-keys.json serves them."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger.published import keys_document
from tools import verify_receipt


class Command(BaseCommand):
    help = (
        "Verify a receipt file offline: the platform's signature, the signatures inside, the "
        "inclusion proof and the tree head's signature. Exit status as tools/verify_receipt.py: "
        "0 verified, 1 a check failed, 2 unreadable, 3 not sealed yet."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the receipt file")
        parser.add_argument(
            "--keys", help="a published keys file (default: this platform's published keys)"
        )

    def handle(self, *args, file, keys, **options):
        try:
            receipt_data = Path(file).read_bytes()
            keys_data = (
                Path(keys).read_bytes() if keys else json.dumps(keys_document()).encode("utf-8")
            )
        except OSError as exc:
            raise CommandError(str(exc), returncode=verify_receipt.EXIT_UNREADABLE) from None
        status = verify_receipt.run(receipt_data, keys_data, self.stdout)
        if status != verify_receipt.EXIT_OK:
            raise CommandError("the receipt is not verified", returncode=status)
