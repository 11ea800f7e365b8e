"""manage.py ledger_seal: append queued transfers to the log and seal it now (the task does it too)."""

from django.core.management.base import BaseCommand

from ledger.seals import ledger_seal


class Command(BaseCommand):
    help = "Append queued transfers to the ledger log and sign a seal if the log grew."

    def handle(self, *args, **options):
        seal = ledger_seal()
        if seal is None:
            self.stdout.write("ledger_seal: nothing new to seal")
        else:
            self.stdout.write(
                f"ledger_seal: sealed size={seal.tree_size} root={bytes(seal.root_hash).hex()}"
            )
