"""Settings for `manage.py bench_checkout`'s gunicorn: local settings made production-like.

DEBUG off (no query log kept in memory), INFO logs off, throttles out of the way (the benchmark
measures the work, not the limiter, which still runs), an in-process Celery broker (tasks that a
checkout enqueues are published, not run, and leave nothing behind), and the bench-only no-op
endpoint mounted by bench.checkout_urls. Never used outside the benchmark.
"""

from config.settings.local import *  # noqa: F403
from config.settings.local import DATABASES, REST_FRAMEWORK

DEBUG = False
ROOT_URLCONF = "bench.checkout_urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
BENCH_NOOP_ENABLED = True
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "anon": "1000000/min",
        "user": "1000000/min",
        # Payment creation adds the "sensitive" throttle (card testing): at its 30/min per buyer
        # the bench measured the limiter (2 checkouts/s with 4 buyers, the rest 429), not the work.
        "sensitive": "1000000/min",
    },
}
# As in production: order events leave through the outbox relay, which the benchmark runs beside
# gunicorn (in its process group, so the relay's CPU counts as the server's).
ORDER_EVENTS_RELAY = True
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_RESULT_BACKEND = None
LOGGING_CONFIG = None  # nothing per request on the console; errors still raise
# Connections live through the run: a backend that closes mid-phase (CONN_MAX_AGE) takes its CPU
# out of /proc before the phase's second snapshot, and the "db" CPU per operation came out low.
DATABASES = {**DATABASES, "default": {**DATABASES["default"], "CONN_MAX_AGE": None}}

# Experiment: BENCH_USER_THROTTLE=counter puts the per-user rate on the atomic counter
# (bench/throttles.py), to see what DRF's sliding log costs every request.
if env("BENCH_USER_THROTTLE", default="") == "counter":  # noqa: F405
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
        "bench.throttles.CounterUserRateThrottle"
        if name == "core.api.throttling.UserRateThrottle"
        else name
        for name in REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    ]
