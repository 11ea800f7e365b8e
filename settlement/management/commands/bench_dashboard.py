"""manage.py bench_dashboard [--quick]: the sellers' dashboard at two history sizes (a benchmark,
not a test).

In a fresh scratch database (`<your database>_bench_dashboard`, dropped at the end unless --keep):

1. two daily-paid EUR sellers over the same year, on one shared ledger: one with 1,000 payments
   and one with 1,000,000 (--quick: 100,000, and it says so), made set-based
   (settlement/dashboard/history.py: orders, sub-orders, ledger transfers in time order in one
   log, daily batches, their payouts; balances on the accounts' counters);
2. the daily totals job run over the whole log (as beat would have run it along the way);
   VACUUM ANALYZE;
3. each page through Django's test client (the whole middleware stack, DEBUG off), signed in as
   each seller in turn, interleaved so that other load on the machine weighs on both alike:
   warm-up, then the median of `--rounds` requests; the SQL statements of one request.

Pages: the overview (30 and 90 days), its live fragment, the orders list (its first page, a page
a month down, filtered by state, days and amount, one buyer's orders, a search by order number),
settlements, payouts, the newest batch and the newest paid payout. The batch CSV is timed too and reported apart (its size is the
batch's, not the history's). The last line printed is one JSON object:
{"p8_dashboard_1m_vs_1k": <worst page's ms_1m / ms_1k>, "pages": {...}}. Target <= 2.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from core.postgresql.scratch import create_database, drop_database

BIG = 1_000_000
BIG_QUICK = 100_000
SMALL = 1_000
DAYS = 365


class Command(BaseCommand):
    help = (
        "Time the sellers' dashboard pages for a seller with 1,000 and one with 1,000,000 payments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick", action="store_true", help=f"the big seller with {BIG_QUICK:,} payments"
        )
        parser.add_argument("--keep", action="store_true", help="keep the scratch database")
        parser.add_argument("--rounds", type=int, default=0, help="timed requests per page")

    def handle(self, *args, quick: bool = False, keep: bool = False, rounds: int = 0, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_dashboard needs PostgreSQL: set DATABASE_URL=postgres://...")
        big = BIG_QUICK if quick else BIG
        rounds = max(3, min(rounds or (9 if quick else 21), 1_000))
        base = dict(connection.settings_dict)
        scratch = f"{base['NAME']}_bench_dashboard"
        if quick:
            self.out(
                f"--quick: the big seller has {big:,} payments, not {BIG:,} "
                "(the ratio below is 100k vs 1k)"
            )
        self.recreate(base, scratch)
        try:
            sellers = self.build(big)
            # As served: DEBUG off (no query log), static files by name (no manifest needed).
            with override_settings(
                DEBUG=False,
                ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
                STORAGES={
                    **settings.STORAGES,
                    "staticfiles": {
                        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                    },
                },
            ):
                pages, exports = self.measure(sellers, rounds)
        finally:
            connections["default"].close()
            if not keep:
                drop_database(base, scratch)
        worst = max(page["ratio"] for page in pages.values())
        for name, export in exports.items():
            self.out(
                f"export {name}: 1k {export['ms_1k']:.1f} ms ({export['lines_1k']} lines), "
                f"1M {export['ms_1m']:.1f} ms ({export['lines_1m']} lines): the batch's size"
            )
        result: dict = {
            "p8_dashboard_1m_vs_1k": round(worst, 3),
            "pages": {
                name: {"ms_1k": page["ms_1k"], "ms_1m": page["ms_1m"], "queries": page["queries"]}
                for name, page in pages.items()
            },
        }
        if quick:
            result["quick"] = True
        self.stdout.write(json.dumps(result))

    # --- the scratch database ----------------------------------------------------------------

    def out(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def recreate(self, base: dict, name: str) -> None:
        create_database(base, name)
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = name
        self.out(f"scratch database {name}: migrating")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)

    # --- data --------------------------------------------------------------------------------

    def build(self, big: int) -> dict:
        from accounts.models import Role, SellerProfile, User
        from settlement.dashboard.daily_totals import daily_totals_refresh
        from settlement.dashboard.history import append_log_in_bulk, build_histories

        sellers = {}
        for label, size in (("1k", SMALL), ("1m", big)):
            user = User.objects.create_user(
                f"bench-{label}@example.com", "bench-password", role=Role.SELLER
            )
            SellerProfile.objects.create(
                user=user,
                legal_name=f"Bench seller {label}",
                country="DE",
                default_currency="EUR",
                settlement_currency="EUR",
                bank_account_holder=f"Bench seller {label}",
                iban="DE89370400440532013000",
                bic="COBADEFFXXX",
            )
            sellers[label] = (user, size)
        began = time.perf_counter()
        made = build_histories(
            list(sellers.values()),
            days=DAYS,
            now=timezone.now(),
            append_log=append_log_in_bulk,
            progress=lambda step: self.out(f"  {step} ({time.perf_counter() - began:.0f} s)"),
        )
        for history in made:
            self.out(
                f"seller {history.seller_id}: {history.payments:,} payments, "
                f"{history.transfers:,} transfers, {history.batches} batches and payouts"
            )
        self.out(f"history made in {time.perf_counter() - began:.1f} s; daily totals job")
        began = time.perf_counter()
        read = 0
        while entries := daily_totals_refresh():
            read += entries
        seconds = time.perf_counter() - began
        self.out(
            f"daily totals from {read:,} log entries in {seconds:.1f} s "
            f"({read / max(seconds, 1e-9):,.0f} entries/s); VACUUM ANALYZE"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        return {label: user for label, (user, _size) in sellers.items()}

    # --- timing ------------------------------------------------------------------------------

    def urls(self, user) -> dict[str, str]:
        from settlement.dashboard.orders import OrderFilters, orders_page
        from settlement.models import Payout, SettlementBatch

        batch = SettlementBatch.objects.filter(seller=user).order_by("-period_end").first()
        payout = Payout.objects.filter(seller=user, status="paid").order_by("-created_at").first()
        # The orders list a month down (a deep page), and the newest order's buyer (who bought
        # every 40th order: 25 orders in the small history, 25,000 in the big one). Each list
        # page below shows a full page (25 orders) for both sellers, the search one order.
        deep = orders_page(seller_id=user.pk, filters=OrderFilters(), limit=1)
        newest = deep.items[0]
        deep = orders_page(
            seller_id=user.pk,
            filters=OrderFilters(date_to=(newest.created_at - dt.timedelta(days=31)).date()),
            limit=1,
        )
        half_a_year_ago = timezone.localdate() - dt.timedelta(days=182)
        return {
            "overview": "/seller/",
            "overview_90_days": "/seller/?days=90",
            "live": "/seller/live/",
            "orders": "/seller/orders/",
            "orders_deep_page": f"/seller/orders/?after={deep.next_cursor}",
            "orders_filtered": (
                "/seller/orders/?status=confirmed&currency=EUR&amount_min=50&amount_max=60"
                f"&date_from={half_a_year_ago}"
            ),
            "orders_buyer": f"/seller/orders/?buyer={newest.buyer_reference}",
            # A whole number: the bench's numbers count up, so a short prefix would match a
            # tenth of the history (real numbers are random: four characters find one order).
            "orders_search": f"/seller/orders/?q={newest.order.number}",
            "settlements": "/seller/settlements/",
            "payouts": "/seller/payouts/",
            "batch": f"/seller/settlements/{batch.pk}/",
            "payout": f"/seller/payouts/{payout.pk}/",
            "batch_csv": f"/seller/settlements/{batch.pk}/lines.csv",
        }

    @staticmethod
    def fetch(client: Client, url: str) -> tuple[float, int, bytes]:
        began = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed_ms = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}")
        return elapsed_ms, response.status_code, body

    def measure(self, sellers: dict, rounds: int) -> tuple[dict, dict]:
        clients, urls = {}, {}
        for label, user in sellers.items():
            clients[label] = Client()
            clients[label].force_login(user)
            urls[label] = self.urls(user)
        names = list(urls["1k"])
        queries: dict[tuple[str, str], int] = {}
        sizes: dict[tuple[str, str], int] = {}
        for name in names:
            for label in sellers:
                for _ in range(3):  # warm-up: templates compiled, caches filled
                    self.fetch(clients[label], urls[label][name])
                with CaptureQueriesContext(connection) as captured:
                    _, _, body = self.fetch(clients[label], urls[label][name])
                queries[(name, label)] = len(captured)
                sizes[(name, label)] = body.count(b"\n") - 1
        times: dict[tuple[str, str], list[float]] = {key: [] for key in queries}
        self.out(f"timing {len(names)} pages x 2 sellers, {rounds} requests each (interleaved)")
        for _ in range(rounds):
            for name in names:
                for label in sellers:
                    times[(name, label)].append(self.fetch(clients[label], urls[label][name])[0])
        pages, exports = {}, {}
        for name in names:
            ms_1k = statistics.median(times[(name, "1k")])
            ms_1m = statistics.median(times[(name, "1m")])
            row = {
                "ms_1k": round(ms_1k, 2),
                "ms_1m": round(ms_1m, 2),
                "ratio": ms_1m / ms_1k,
                "queries": queries[(name, "1m")],
            }
            if name.endswith("_csv"):
                exports[name] = {
                    **row,
                    "lines_1k": sizes[(name, "1k")],
                    "lines_1m": sizes[(name, "1m")],
                }
                continue
            pages[name] = row
            same = queries[(name, "1k")] == queries[(name, "1m")]
            self.out(
                f"{name}: 1k {ms_1k:.1f} ms, 1M {ms_1m:.1f} ms, ratio {row['ratio']:.2f}, "
                f"{queries[(name, '1m')]} queries"
                + ("" if same else f" (1k: {queries[(name, '1k')]}: NOT THE SAME)")
            )
        return pages, exports
