"""Production: every secret from the environment, no defaults; refuses to start without them."""

from django.core.exceptions import ImproperlyConfigured

from .env_file import read_env_file

read_env_file()

from .base import *  # noqa: E402, F403
from .base import (  # noqa: E402
    LOGGING,
    broker_transport_options,
    database_from_env,
    env,
    redis_cache,
)


def required(name: str) -> str:
    """The variable's value; a missing or blank one stops the process with a message naming it."""
    value = env.str(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(
            f"Set the {name} environment variable (production has no default)."
        )
    return value


DEBUG = False
SECRET_KEY = required("DJANGO_SECRET_KEY")
# The settlement drill's crash points SIGKILL the process on purpose: never in production.
if env.str("CLEARHOUSE_DRILL_CRASH_POINTS", default="").strip():
    raise ImproperlyConfigured("CLEARHOUSE_DRILL_CRASH_POINTS is for the settlement drill only.")
ALLOWED_HOSTS = [
    host.strip() for host in required("DJANGO_ALLOWED_HOSTS").split(",") if host.strip()
]
required("DATABASE_URL")
DATABASES = {"default": database_from_env()}
REDIS_URL = required("REDIS_URL")
CACHES = {"default": redis_cache(REDIS_URL)}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CLEARHOUSE_MASTER_KEYS = required("CLEARHOUSE_MASTER_KEYS")
CLEARHOUSE_SIGNING_KEY = required("CLEARHOUSE_SIGNING_KEY")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
# Webhook URLs may not reach private networks (SSRF); see payments/webhooks/http.py.
CLEARHOUSE_WEBHOOKS_ALLOW_PRIVATE = False

LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json")

# Order events leave through the outbox relay: run `manage.py relay_order_events` as a process.
ORDER_EVENTS_RELAY = env.bool("ORDER_EVENTS_RELAY", default=True)
