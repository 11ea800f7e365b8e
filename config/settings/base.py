"""Settings shared by every environment. One environ.Env(); secrets come only from the environment."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

# The environment only: local.py and production.py read the optional .env file before importing this.
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    # django.contrib.admin, its site requiring staff's second factor (accounts/admin_site.py).
    "accounts.admin_apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "axes",
    # Staff two-factor sign-in for the admin: TOTP authenticators and backup codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core",
    "accounts",
    "ledger",
    "payments",
    "settlement",
    "demo",
]

MIDDLEWARE = [
    # First: /api/v1/ paths have no trailing slash; a client's extra slash is dropped (one path
    # for routing, idempotency scope and links).
    "core.api.paths.ApiTrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # /api/ query strings PostgreSQL could not store (NUL): refused before anything runs.
    "core.api.query_string.QueryStringMiddleware",
    # After authentication (it scopes keys by user or Authorization header); /api/ paths only.
    "core.api.idempotency.IdempotencyMiddleware",
    # Last, so that a locked-out login never reaches the view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.money_locale",
            ],
        },
    },
]


def database_from_env() -> dict:
    """DATABASE_URL: PostgreSQL (psycopg 3), the only database Clearhouse runs on.

    Unset, it names the embedded server that `make run` and `make test` start (config/embedded_db.py)
    while that server runs; production requires the variable (production.py).
    """
    url = env.str("DATABASE_URL", default="").strip() or _embedded_postgres_url()
    config = environ.Env.db_url_config(url)
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must name a PostgreSQL database (postgres://user@host:port/name, "
            f"PostgreSQL {MIN_POSTGRES_VERSION} or later); Clearhouse runs on PostgreSQL only."
        )
    # Our backend: PostgreSQL's, with a start-up error that names DATABASE_URL when the server is
    # older than MIN_POSTGRES_VERSION.
    config["ENGINE"] = "core.postgresql"
    config.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    config["CONN_HEALTH_CHECKS"] = True
    # Fail fast rather than hang when the database host does not answer.
    config.setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_S", default=5)
    )
    return config


def _embedded_postgres_url() -> str:
    # Imported here: at module level its DEFAULT_DATA_DIR would become a setting of every module
    # that star-imports this one.
    from config.embedded_db import DEFAULT_DATA_DIR, running

    server = running(DEFAULT_DATA_DIR)
    if server is None:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set and the embedded PostgreSQL is not running: use `make run` / "
            "`make test` (they start it), `make db` to start it alone, or set DATABASE_URL to a "
            "PostgreSQL database."
        )
    return server.url()


# The oldest PostgreSQL the project's SQL (PL/pgSQL functions, migrations) is tested against.
MIN_POSTGRES_VERSION = 15
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Failed-login throttling and lockout (django-axes): 5 failures per account+IP lock for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Development: each email is written to var/mail/ whole and logged as one INFO line (the console
# backend's lines went through Celery's stdout as a WARNING each).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="core.mail.FileAndLogEmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Clearhouse <no-reply@clearhouse.localhost>")

# --- Redis, cache and Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="").strip()
# Redis calls fail fast instead of hanging when Redis is down or unreachable (health checks rely on it).
REDIS_SOCKET_TIMEOUT_S = env.float("REDIS_SOCKET_TIMEOUT_S", default=2.0)


def redis_cache(url: str, **extra) -> dict:
    return {
        "BACKEND": "core.cache.RedisCache",  # one client per pool (see core/cache.py)
        "LOCATION": url,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        },
        **extra,
    }


if REDIS_URL:
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    # Without Redis, web and worker share their cache through the database (`manage.py
    # createcachetable`, run by `make migrate`; test databases get it automatically).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "clearhouse_cache",
        }
    }

CELERY_QUEUE_DIR = VAR_DIR / "celery"


def broker_transport_options(broker_url: str) -> dict:
    """filesystem:// needs its folders and a fast poll; Redis redelivers unacked tasks after
    CELERY_BROKER_VISIBILITY_TIMEOUT_S: 5 minutes, fitted to the longest task (CELERY_TASK_TIME_LIMIT,
    90 s) with room to spare, so the tasks a killed worker held come back within minutes, not
    after Redis's default hour (the drills make it seconds). A message waiting longer than that for
    its countdown (retry backoffs up to 15 min) may be handed out twice: every task is idempotent,
    and the sweepers re-drive whatever is still undone."""
    if broker_url.startswith("filesystem://"):
        return {
            "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
            "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
            "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
            # kombu's exchange table, "control/" in the working directory by default.
            "control_folder": str(CELERY_QUEUE_DIR / "control"),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    if broker_url.startswith(("redis://", "rediss://")):
        visibility_s = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT_S", default=300)
        # kombu looks for expired messages every interval x throttle seconds (10 x 10 by default):
        # scan every tenth of the timeout (at most every 10 s), so a killed worker's tasks come
        # back soon after the timeout, not up to 100 s later.
        return {
            "visibility_timeout": visibility_s,
            "unacked_restore_interval": min(10, max(1, visibility_s // 10)),
            "unacked_restore_throttle": 1,
        }
    return {}


CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Without Redis, results go to files next to the filesystem broker's queue.
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND", default=REDIS_URL or f"file://{CELERY_QUEUE_DIR / 'results'}"
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, and given back to the queue if its worker dies mid-way:
# every task must therefore be idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = False
# Worker logs go through Django's LOGGING (JSON in production), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Each app adds its periodic work here; beat reads it at start.
CELERY_BEAT_SCHEDULE: dict = {
    "worker-heartbeat": {"task": "core.tasks.heartbeat", "schedule": 10.0},
    "delete-expired-idempotency-keys": {
        "task": "core.tasks.delete_expired_idempotency_keys",
        "schedule": 3600.0,
    },
    "ledger-fold-deltas": {"task": "ledger.tasks.fold_balance_deltas", "schedule": 5.0},
    "settlement-mature-balances": {"task": "settlement.mature_balances", "schedule": 60.0},
    "settlement-make-batches": {"task": "settlement.make_batches", "schedule": 3600.0},
    "settlement-payouts-sweep": {"task": "settlement.payouts_sweep", "schedule": 60.0},
    "settlement-acknowledgements-sweep": {
        "task": "settlement.acknowledgements_sweep",
        "schedule": 60.0,
    },
    # The sellers' dashboard: daily sales, fees and refunds from the ledger's new log entries.
    "settlement-dashboard-daily-totals": {
        "task": "settlement.dashboard_daily_totals",
        "schedule": 60.0,
    },
    "ledger-void-expired-pendings": {
        "task": "ledger.tasks.void_expired_pending_transfers",
        "schedule": 30.0,
    },
    "ledger-seal": {"task": "ledger.seal_ledger", "schedule": 60.0},
    "payments-expire-due": {"task": "payments.expire_due", "schedule": 60.0},
    # Card payments whose request died mid-way: recovered within two minutes (PAYMENTS_RECOVER_AFTER_S).
    "payments-recover-stale": {"task": "payments.recover_stale", "schedule": 20.0},
    "orders-expire-unpaid": {"task": "payments.order_tasks.expire_unpaid_orders", "schedule": 60.0},
    "checkout-sessions-expire": {
        "task": "payments.order_tasks.expire_checkout_sessions",
        "schedule": 60.0,
    },
    "payments-expire-acceptance": {"task": "payments.expire_acceptance", "schedule": 60.0},
    "payments-settle-sub-order-holds": {
        "task": "payments.settle_sub_order_holds",
        "schedule": 60.0,
    },
    # Order documents a lost sealing task left unmade, and those waiting for a seller's key.
    "payments-order-documents-sweep": {"task": "payments.order_documents_sweep", "schedule": 60.0},
    # Release (issue 5): confirm receipt when the window lapses; re-drive refunds left pending.
    "payments-auto-confirm-due": {"task": "payments.auto_confirm_due", "schedule": 60.0},
    "payments-refunds-sweep": {"task": "payments.refunds_sweep", "schedule": 300.0},
    # Order events whose dispatch was lost, and webhook deliveries whose retry is due.
    "webhooks-sweep": {"task": "payments.webhook_sweep", "schedule": 30.0},
    # Reconciliation: yesterday's bank statement, imported and matched (a repeat changes nothing).
    "settlement-fetch-bank-statement": {
        "task": "settlement.fetch_bank_statement",
        "schedule": 3600.0,
    },
}
# The name authenticator apps show for the staff's TOTP entry.
OTP_TOTP_ISSUER = "Clearhouse"
# Reconciliation (settlement/reconciliation/): adjustments above this many minor units need a
# second staff member's approval; payouts sent this many days before the last statement and on
# none are overdue; a payout matched by amount and IBAN was sent at most this many days before
# the line's value date.
RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR = env.int(
    "RECONCILIATION_ADJUSTMENT_APPROVAL_MINOR", default=50_000
)
RECONCILIATION_PAYOUT_GRACE_DAYS = env.int("RECONCILIATION_PAYOUT_GRACE_DAYS", default=3)
RECONCILIATION_MATCH_WINDOW_DAYS = env.int("RECONCILIATION_MATCH_WINDOW_DAYS", default=5)
# Issue 5 lifecycle windows (payments.conf reads them).
CLEARHOUSE_ACCEPTANCE_WINDOW_HOURS = env.float("CLEARHOUSE_ACCEPTANCE_WINDOW_HOURS", default=48)
CLEARHOUSE_AUTO_CONFIRM_DAYS = env.float("CLEARHOUSE_AUTO_CONFIRM_DAYS", default=10)
# A worker is "up" if it wrote its heartbeat (worker start, then core.tasks.heartbeat every 10 s
# from beat) within this many seconds. Kept in this cache so web and workers on other hosts agree.
WORKER_HEARTBEAT_MAX_AGE_S = env.int("WORKER_HEARTBEAT_MAX_AGE_S", default=30)
WORKER_HEARTBEAT_CACHE = "default"
# /healthz gives the broker this long to answer.
HEALTH_BROKER_TIMEOUT_S = env.float("HEALTH_BROKER_TIMEOUT_S", default=2.0)

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.AnonRateThrottle",
        "core.api.throttling.UserRateThrottle",
    ],
    # How many proxies in front of the app append to X-Forwarded-For (0: trust REMOTE_ADDR only).
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="6000/min"),
        # core.api.throttling.SensitiveRateThrottle: key creation, payouts, password-like actions.
        "sensitive": env("API_THROTTLE_SENSITIVE", default="30/min"),
    },
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    # Strict bodies: one object, bounded depth and size, no duplicate keys, NUL or lone surrogate.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.StrictJSONParser",
        "core.api.parsers.StrictFormParser",
        "core.api.parsers.StrictMultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "NON_FIELD_ERRORS_KEY": "non_field_errors",
}
API_DESCRIPTION = """Marketplace payments and settlement.

**Errors.** Every failure answers with one shape:
`{"error": {"code": "...", "message": "...", "field": "..." | null}}`. `code` is stable snake_case
(`invalid`, `parse_error`, `not_authenticated`, `authentication_failed`, `permission_denied`,
`not_found`, `method_not_allowed`, `unsupported_media_type`, `throttled`, `conflict`, and the domain
errors' own codes); `field` names the input at fault. Validation errors (code `invalid`) also list
every field error in `details`: `[{"field", "code", "message"}]`. A 429 carries `Retry-After`.

**Idempotency.** Send `Idempotency-Key: <a random UUID>` with POST, PUT, PATCH or DELETE to make a
retry safe. Optional; when present it is enforced. The first request with a key runs and its answer
(status, body) is kept for 24 hours; a retry with the same key and the same request gets that answer
back with `Idempotent-Replayed: true` and has no further effect. The same key with a different
request: 422 `idempotency_key_reused`. While the first is still running: 409
`idempotency_key_in_flight` (retry later). Keys are scoped to the caller (API key or user) and to the
method and path. Answers 5xx, 401, 403 and 429 are not kept: the key can be retried.

**Pagination.** Lists are cursor-paginated, newest first: `?limit=` (1 to 200, default 50) and
follow `next` / `previous`.
"""
SPECTACULAR_SETTINGS = {
    "TITLE": "Clearhouse API",
    "DESCRIPTION": API_DESCRIPTION,
    "VERSION": "1.0.0",
    # 3.1: the schemas are JSON Schema (2020-12), so tests validate real answers against them.
    "OAS_VERSION": "3.1.0",
    # Paths are documented from /api/v1 on; their first segment is the resource (the tag).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" with its own choices: each gets its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "PayoutStatusEnum": "settlement.models.PayoutStatus",
        "OrderStatusEnum": "payments.orders.models.OrderStatus",
        "SubOrderStatusEnum": "payments.orders.models.SubOrderStatus",
        "CheckoutSessionStatusEnum": "payments.orders.models.CheckoutSessionStatus",
        "PaymentStatusEnum": "payments.flows.models.PaymentStatus",
        "PaymentMethodEnum": "payments.flows.models.PaymentMethod",
        "RefundStatusEnum": "payments.fulfilment.models.RefundStatus",
        "RefundSourceEnum": "payments.fulfilment.models.RefundSource",
        "DisputeStatusEnum": "payments.fulfilment.models.DisputeStatus",
        "CheckoutSessionPaymentStatusEnum": "payments.checkout.api_docs.SESSION_PAYMENT_STATUSES",
        "AcknowledgementStateEnum": "settlement.confirmations.models.AckState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_component",
    ],
}
IDEMPOTENCY_KEY_TTL_S = env.int("IDEMPOTENCY_KEY_TTL_S", default=24 * 3600)
IDEMPOTENCY_PATH_PREFIXES = ["/api/"]
# Non-DRF views under /api/ answer CSRF failures in the API's error shape too.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"

# --- Keys --------------------------------------------------------------------------------------
# CLEARHOUSE_MASTER_KEYS: "id:base64key[,id:base64key...]", newest first; each key is 32 bytes.
# CLEARHOUSE_SIGNING_KEY: base64 of the platform's 32-byte Ed25519 seed (signs seals and receipts).
CLEARHOUSE_MASTER_KEYS = env("CLEARHOUSE_MASTER_KEYS", default="")
CLEARHOUSE_SIGNING_KEY = env("CLEARHOUSE_SIGNING_KEY", default="")

# --- Fees and refunds (settlement/fees.py, payments/fulfilment/refunds.py) ----------------------
# Fee plans by name (SellerProfile.fee_plan), in basis points of the released amount (290 = 2.9 %).
# Each also says how long released money is held before payouts may take it ("hold_days", 2 if
# absent) and an optional rolling reserve ("reserve_bps" of each release, kept "reserve_days").
CLEARHOUSE_FEE_PLANS = {
    "standard": {"bps": 290, "hold_days": 2},
    "reduced": {"bps": 150, "hold_days": 2},
    "zero": {"bps": 0, "hold_days": 2},
}
CLEARHOUSE_DEFAULT_FEE_PLAN = "standard"
# A refund still pending this many minutes after it was asked for is re-driven by the sweeper.
CLEARHOUSE_REFUND_SWEEP_AFTER_MINUTES = env.int("CLEARHOUSE_REFUND_SWEEP_AFTER_MINUTES", default=10)

# --- Currency conversion (settlement/fx.py) ------------------------------------------------------
# The platform's spread on converting a seller's sales into the settlement currency, in basis
# points of the converted amount (50 = 0.5 %), and how old the latest rate may be before money
# waits for a fresher one instead of being converted.
CLEARHOUSE_FX_SPREAD_BPS = env.int("CLEARHOUSE_FX_SPREAD_BPS", default=50)
CLEARHOUSE_FX_MAX_RATE_AGE_HOURS = env.float("CLEARHOUSE_FX_MAX_RATE_AGE_HOURS", default=48)
# --- Outgoing webhooks --------------------------------------------------------------------------
# May a webhook URL point to a private, loopback, link-local or reserved address? Never in
# production (SSRF); local.py and test.py turn it on so receivers on 127.0.0.1 work.
CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = env.bool("CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE", default=False)

# --- The bank that pays sellers (settlement/gateways/) -------------------------------------------
# Which gateway payouts use (settlement/gateways/registry.py). The sandbox bank is its own process
# (`manage.py run_sandbox_bank`, started by `make run`); docs/sandbox_bank.md.
CLEARHOUSE_BANK_GATEWAY = env("CLEARHOUSE_BANK_GATEWAY", default="sandbox")
SANDBOX_BANK_URL = env("SANDBOX_BANK_URL", default="http://127.0.0.1:8765")
SANDBOX_BANK_TIMEOUT_S = env.float("SANDBOX_BANK_TIMEOUT_S", default=10.0)
# Where the bank sends its callbacks (the platform's receiving view).
# The platform's own bank account, the debtor of the pain.001 files staff download for banks
# that take files (settlement/payouts/files.py). The defaults are a documentation IBAN.
CLEARHOUSE_PLATFORM_BANK_ACCOUNT = {
    "name": env("CLEARHOUSE_PLATFORM_ACCOUNT_NAME", default="Clearhouse Marketplace"),
    "iban": env("CLEARHOUSE_PLATFORM_IBAN", default="DE75512108001245126199"),
    "bic": env("CLEARHOUSE_PLATFORM_BIC", default="SOGEDEFFXXX"),
}
SANDBOX_BANK_CALLBACK_URL = env(
    "SANDBOX_BANK_CALLBACK_URL", default="http://127.0.0.1:8000/settlement/bank/callbacks"
)
# CLEARHOUSE_BANK_SIGNING_KEY: the platform's Ed25519 key for requests to the bank (base64 of the
# 32-byte seed, or a PKCS#8 PEM); its own key, not the one that signs seals and receipts.
# CLEARHOUSE_BANK_WEBHOOK_SECRET: the bank's Standard Webhooks secret ("whsec_<base64>").
# SANDBOX_BANK_ADMIN_TOKEN: the sandbox bank's operator token (demo seeding, fault knobs).
CLEARHOUSE_BANK_SIGNING_KEY = env("CLEARHOUSE_BANK_SIGNING_KEY", default="")
CLEARHOUSE_BANK_WEBHOOK_SECRET = env("CLEARHOUSE_BANK_WEBHOOK_SECRET", default="")
SANDBOX_BANK_ADMIN_TOKEN = env("SANDBOX_BANK_ADMIN_TOKEN", default="")
# How long a payout may wait created or submitted before the sweeper asks the bank about it, and
# how long after it was paid the bank is asked once more whether it came back (a return whose
# callback was lost): set it to the bank's return window (settlement/payouts/services.py).
SETTLEMENT_PAYOUT_CREATED_CHECK_S = env.int("SETTLEMENT_PAYOUT_CREATED_CHECK_S", default=120)
SETTLEMENT_PAYOUT_SUBMITTED_CHECK_S = env.int("SETTLEMENT_PAYOUT_SUBMITTED_CHECK_S", default=900)
SETTLEMENT_PAYOUT_RETURN_WATCH_S = env.int(
    "SETTLEMENT_PAYOUT_RETURN_WATCH_S", default=5 * 24 * 3600
)

# --- Logging -----------------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")  # "json" in production
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "core.logging.RedactCardDataFilter"},
        "expected_client_errors": {"()": "core.logging.ExpectedClientErrorFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # 401/403/404/405: one INFO line with the reason, no traceback (core.logging).
        "django.request": {"filters": ["expected_client_errors"]},
        "celery": {"level": "INFO"},
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie

# Order events (webhooks, emails) leave through the transactional outbox relay
# (`manage.py relay_order_events`, payments/orders/event_relay.py) instead of one Celery publish per
# transaction from the web process. Production turns it on and runs the relay as a process.
ORDER_EVENTS_RELAY = env.bool("ORDER_EVENTS_RELAY", default=False)
ORDER_EVENTS_RELAY_INTERVAL_S = env.float("ORDER_EVENTS_RELAY_INTERVAL_S", default=0.2)
