"""Tests: fixed keys, fast hashing, plain static storage. DATABASE_URL / REDIS_URL pick the real stack."""

from .base import *  # noqa: F403
from .base import BASE_DIR, CELERY_BROKER_URL, env

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
# Argon2 is the production hasher (tested in test_settings); tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Throttles stay on (tests of throttling set their own rates) but high enough for normal tests.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "100000/min"},
}
CELERY_BROKER_URL = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = False
AXES_ENABLED = True
LOGGING_CONFIG = None if env.bool("TEST_QUIET_LOGS", default=False) else "logging.config.dictConfig"
