"""The baseline task of bench_settlement's p6: a Celery task that does nothing but count itself
(one Redis INCR, so the benchmark knows when all have run), with the options the payout tasks
have (late acks, no result). Loaded into the benchmark's workers with `-I bench.settlement_noop`;
the application's workers never see it."""

from __future__ import annotations

from celery import shared_task

_redis = None


def counter_key(run: str) -> str:
    return f"bench:settlement:noop:{run}"


def _client():
    global _redis
    if _redis is None:
        import redis
        from django.conf import settings

        _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


@shared_task(name="bench.settlement_noop", acks_late=True, ignore_result=True)
def noop(run: str) -> None:
    _client().incr(counter_key(run))
