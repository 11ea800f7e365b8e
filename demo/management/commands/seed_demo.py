"""Demo data: a staff user, three sellers (EUR/DE, USD/US, JPY/JP) with payout accounts and keys,
and two buyers, with fixed passwords; a completed order and the sealed receipts of the completed
demo orders (final where the seller was paid and both sides acknowledged: demo/receipts.py). Idempotent: what exists is left as it is, so a second run
changes nothing and prints the same table.

Demo sellers' private keys are kept encrypted in the database (accounts.DemoKeyMaterial, under
the master key ring) so the demo can act as its sellers; real sellers' private keys never are.
Refuses to run unless DEBUG is on or --force is given: these passwords are public.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import selectors, services, two_factor
from accounts.dashboard_keys import dashboard_keys_ensure
from accounts.demo import demo_private_key_pem, demo_private_key_store
from accounts.models import KeyPurpose, Role, SellerKey, User
from core.crypto import CryptoError
from demo.bank import open_demo_bank_accounts, sandbox_bank_for_seeding
from demo.payout_history import (
    demo_bank_accounts,
    demo_money_summary,
    seed_fx_rates,
    seed_payout_history,
)
from demo.receipts import seed_demo_completed_order, seed_demo_receipts
from payments.catalog.demo import seed_demo_products
from settlement.gateways.base import BankError


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    role: str
    display_name: str
    profile: dict[str, str] = field(default_factory=dict)
    signing_algorithm: str = "ed25519"


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("staff@clearhouse.test", "demo-staff-pass", Role.STAFF, "Sam Staff"),
    DemoUser(
        "seller.eur@clearhouse.test",
        "demo-seller-eur",
        Role.SELLER,
        "Greta Rhein",
        {
            "legal_name": "Rheinland Handel GmbH",
            "country": "DE",
            "default_currency": "EUR",
            "settlement_currency": "EUR",
            "iban": "DE89370400440532013000",
            "bic": "COBADEFFXXX",
            "settlement_schedule": "daily",
            "minimum_payout": "25.00",
        },
    ),
    DemoUser(
        "seller.usd@clearhouse.test",
        "demo-seller-usd",
        Role.SELLER,
        "Hank Hudson",
        {
            "legal_name": "Hudson Goods LLC",
            "country": "US",
            "default_currency": "USD",
            "settlement_currency": "USD",
            "account_number": "000123456789",
            "routing_number": "021000021",
            "settlement_schedule": "weekly",
            "minimum_payout": "50.00",
        },
        signing_algorithm="rsa-pss-sha256",
    ),
    DemoUser(
        "seller.jpy@clearhouse.test",
        "demo-seller-jpy",
        Role.SELLER,
        "Sakura Sato",
        {
            "legal_name": "Sakura Trading K.K.",
            "country": "JP",
            "default_currency": "JPY",
            "settlement_currency": "JPY",
            "account_number": "1234567",
            "routing_number": "0001-001",
            "settlement_schedule": "daily",
            "minimum_payout": "3000",
        },
    ),
    DemoUser("buyer1@clearhouse.test", "demo-buyer-one", Role.BUYER, "Bea Buyer"),
    DemoUser("buyer2@clearhouse.test", "demo-buyer-two", Role.BUYER, "Bo Buyer"),
)


class Command(BaseCommand):
    help = "Load the demo users, sellers and keys (idempotent) and print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo passwords are public: never in production).",
        )
        parser.add_argument(
            "--without-bank",
            action="store_true",
            help="No accounts at the sandbox bank and no payout history (the bank is not used).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts with public passwords; it runs only with DEBUG on "
                "(or with --force, never in production)."
            )
        rows, sellers, staff_devices = [], [], []
        for demo in DEMO_USERS:
            user = self._user(demo)
            if demo.role == Role.STAFF:
                # The admin requires a second factor: the demo staff user has an authenticator
                # whose secret is printed below, so a newcomer can still sign in.
                staff_devices.append((demo, two_factor.ensure_demo_device(user)))
            keys = self._keys(demo, user) if demo.role == Role.SELLER else []
            if demo.role == Role.SELLER:
                sellers.append(user)
                # Dashboard keys locked by the demo password (made once; later runs keep them).
                dashboard_keys_ensure(seller=user, password=demo.password)
            rows.append((demo, keys))
        # The shop's catalogue: each demo seller's products (payments.catalog.demo: idempotent too).

        seed_demo_products(sellers)
        # Payouts before receipts: a receipt is final once its seller was paid and both sides
        # acknowledged.
        self._seed_settlement(sellers, with_bank=not options["without_bank"])
        self._receipts(sellers)
        self._print(rows)
        for demo, device in staff_devices:
            self.stdout.write(
                f"Admin second factor for {demo.email} (DEMO ONLY): add the TOTP secret "
                f"{two_factor.secret_of(device)} to an authenticator app, or open "
                f"{device.config_url}"
            )

    def _receipts(self, sellers: list[User]) -> None:
        """A completed demo order (if the demo has none), and the receipts of the completed demo
        orders: sealed, and final where the seller was paid (demo/receipts.py)."""
        buyers = [
            user
            for demo in DEMO_USERS
            if demo.role == Role.BUYER
            for user in User.objects.filter(email__iexact=demo.email)
        ]
        if buyers and sellers:
            seed_demo_completed_order(buyer=buyers[0], seller=sellers[0])
        made = seed_demo_receipts(buyers=buyers, sellers=sellers)
        # What there is, not what this run added: a second run prints the same.
        self.stdout.write(
            f"Demo receipts: {made.receipts} issued and sealed, {made.final} final (acknowledged "
            "by the demo's sellers and buyers once the seller was paid)"
        )

    def _seed_settlement(self, sellers: list[User], *, with_bank: bool) -> None:
        """Today's FX rates, the sellers' accounts at the sandbox bank (running, or
        started for the seeding: demo/bank.py) and their payout history (demo/payout_history.py).
        Without a bank the rest of the demo is still seeded, and the next run makes the history.
        Prints what there is (the same on a second run), not what this run added."""
        seed_fx_rates()
        if with_bank:
            try:
                with sandbox_bank_for_seeding(self.stdout.write) as operator:
                    open_demo_bank_accounts(operator, demo_bank_accounts(sellers))
                    seed_payout_history(sellers, operator)
            except BankError as exc:
                self.stderr.write(f"No payout history: the sandbox bank is not available ({exc})")
        self.stdout.write(demo_money_summary(sellers))

    @transaction.atomic
    def _user(self, demo: DemoUser) -> User:
        user = User.objects.filter(email__iexact=demo.email).first()
        if user is None:
            if demo.role == Role.STAFF:
                user = User.objects.create_superuser(
                    demo.email, demo.password, display_name=demo.display_name
                )
            else:
                user = User.objects.create_user(
                    demo.email, demo.password, role=demo.role, display_name=demo.display_name
                )
        if demo.profile and selectors.seller_profile_of(user) is None:
            services.seller_profile_save(seller=user, data=demo.profile, require_bank_account=True)
        return user

    def _keys(self, demo: DemoUser, user: User) -> list[SellerKey]:
        keys = []
        for purpose in (KeyPurpose.SIGNING, KeyPurpose.ENCRYPTION):
            key = self._demo_key(user, purpose)
            if key is None:
                with transaction.atomic():
                    key, private_pem = services.seller_key_generate(
                        seller=user,
                        purpose=purpose,
                        algorithm=demo.signing_algorithm,
                        label="demo",
                    )
                    demo_private_key_store(seller_key=key, private_pem=private_pem)
            keys.append(key)
        return keys

    @staticmethod
    def _demo_key(user: User, purpose: str) -> SellerKey | None:
        """The newest active demo key (one whose private half the demo holds and can open)."""
        candidates = selectors.seller_active_keys(seller=user, purpose=purpose).filter(
            demo_material__isnull=False
        )
        for key in candidates[:5]:
            try:
                if demo_private_key_pem(key):
                    return key
            except CryptoError:  # wrapped under a master key that is gone: make another
                continue
        return None

    def _print(self, rows) -> None:
        header = ("email", "password", "role", "keys (signing / encryption)")
        lines = [
            (demo.email, demo.password, demo.role, " / ".join(str(key.id) for key in keys) or "-")
            for demo, keys in rows
        ]
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        rule = "  ".join("-" * width for width in widths)
        self.stdout.write("Demo logins (DEMO ONLY: these passwords are public)")
        self.stdout.write(
            "  ".join(
                text.ljust(width) for text, width in zip(header, widths, strict=True)
            ).rstrip()
        )
        self.stdout.write(rule)
        for line in lines:
            self.stdout.write(
                "  ".join(
                    text.ljust(width) for text, width in zip(line, widths, strict=True)
                ).rstrip()
            )
