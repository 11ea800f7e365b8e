"""Tests: fixed keys, fast hashing, plain static storage. DATABASE_URL / REDIS_URL pick the real stack.

This module never reads .env: what the suite does depends on the environment alone.
"""

import os
import sys

from .base import *  # noqa: F403
from .base import (
    BASE_DIR,
    MIDDLEWARE,
    REDIS_URL,
    broker_transport_options,
    database_from_env,
    env,
    redis_cache,
)

DATABASES = {"default": database_from_env()}
DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-0123456789-abcdefghijklmnop"  # noqa: S105
# Fixed test keys (never used outside tests): "test1" is the newest master key.
CLEARHOUSE_MASTER_KEYS = env(
    "CLEARHOUSE_MASTER_KEYS",
    default="test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
)
CLEARHOUSE_SIGNING_KEY = env(
    "CLEARHOUSE_SIGNING_KEY", default="ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)
ALLOWED_HOSTS = ["*"]
# The sandbox bank: the platform's request-signing seed, the bank's callback secret and its
# operator token (tests start their own bank with these).
CLEARHOUSE_BANK_SIGNING_KEY = env(
    "CLEARHOUSE_BANK_SIGNING_KEY", default="QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="
)
CLEARHOUSE_BANK_WEBHOOK_SECRET = env(
    "CLEARHOUSE_BANK_WEBHOOK_SECRET", default="whsec_YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8="
)
SANDBOX_BANK_ADMIN_TOKEN = env("SANDBOX_BANK_ADMIN_TOKEN", default="test-sandbox-bank-admin-token")
# Webhook receivers on 127.0.0.1 (the production default refuses private addresses).
CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = env.bool("CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE", default=True)
# Argon2 is the production hasher (tested in test_settings); tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# One namespace per pytest process (xdist worker) and run: its own Celery queue and heartbeat keys,
# so parallel workers never take each other's tasks. The integration fixture hands it to the Celery
# worker it starts (CLEARHOUSE_TEST_NAMESPACE), so both sides agree.
TEST_NAMESPACE = env(
    "CLEARHOUSE_TEST_NAMESPACE",
    default=f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}",
)
# The default cache stays per process (throttle counters must not leak between tests); the worker
# heartbeat goes where a worker subprocess can write it: Redis when there is one.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES["heartbeat"] = redis_cache(REDIS_URL, KEY_PREFIX=f"test-{TEST_NAMESPACE}")
    WORKER_HEARTBEAT_CACHE = "heartbeat"
# Without Redis, tasks published by tests go to an in-memory broker that nothing consumes (a
# filesystem queue would be drained later by a `make run` worker, against the wrong database).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# The settlement drill names its own queue (it runs its workers under these settings in CI).
CELERY_TASK_DEFAULT_QUEUE = env(
    "CELERY_TASK_DEFAULT_QUEUE", default=f"clearhouse-test-{TEST_NAMESPACE}"
)
CELERY_TASK_ALWAYS_EAGER = False

# Throttles stay on (tests of throttling set their own rates) but high enough for normal tests.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "100000/min", "sensitive": "10000/min"},
}
AXES_ENABLED = True
LOGGING_CONFIG = None if env.bool("TEST_QUIET_LOGS", default=False) else "logging.config.dictConfig"

# While pytest runs (not in the servers and workers tests start), every /api/v1/ answer is checked
# against the OpenAPI schema; tests/conftest.py fails a test whose answers do not fit it.
if "pytest" in sys.modules:
    MIDDLEWARE = ["tests.api.schema_contract.SchemaContractMiddleware", *MIDDLEWARE]
