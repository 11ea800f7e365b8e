"""The "sensitive" rate limit as an atomic counter (core.api.throttling.CounterRateThrottle).

Time is the throttle's own clock (patched), starting on a window boundary: with "3/min" the windows
are whole minutes, so `clock.at(90)` is half way through the second one.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from freezegun import freeze_time
from rest_framework import throttling as drf_throttling

from core.api.throttling import CounterRateThrottle, SensitiveRateThrottle
from tests.redis_cache import default_cache_on_redis

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

SENSITIVE = "/api/v1/test/sensitive"
START = 1_900_022_400.0  # a multiple of 86400: the start of a minute, hour and day window


class Clock:
    def __init__(self) -> None:
        self.now = START

    def at(self, seconds: float) -> None:
        self.now = START + seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(CounterRateThrottle, "timer", lambda self: clock.now)
    return clock


def set_rates(sensitive: str):
    rates = {"anon": "1000/min", "user": "1000/min", "sensitive": sensitive}
    return override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    )


@pytest.fixture
def three_a_minute():
    with set_rates("3/min"):
        yield


def user_request(pk: int, ip: str = "10.0.0.1") -> SimpleNamespace:
    return SimpleNamespace(
        user=SimpleNamespace(is_authenticated=True, pk=pk), META={"REMOTE_ADDR": ip}, headers={}
    )


def anonymous_request(ip: str) -> SimpleNamespace:
    return SimpleNamespace(
        user=SimpleNamespace(is_authenticated=False, pk=None), META={"REMOTE_ADDR": ip}, headers={}
    )


def check(request) -> tuple[bool, float | None]:
    """One request through a fresh throttle (DRF makes one per request): allowed, and the wait."""
    throttle = SensitiveRateThrottle()
    allowed = throttle.allow_request(request, None)
    return allowed, None if allowed else throttle.wait()


def burst(request, count: int) -> list[bool]:
    return [check(request)[0] for _ in range(count)]


class TestLimit:
    def test_three_pass_the_fourth_is_429_with_retry_after_and_the_error_shape(
        self, api_client, clock, three_a_minute
    ):
        statuses = [api_client.post(SENSITIVE).status_code for _ in range(3)]
        refused = api_client.post(SENSITIVE)

        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        # The refused request counts: 4 in this minute, which must fade to 2 (one more makes 3)
        # in the next one: half way through it.
        assert refused["Retry-After"] == "90"
        assert refused.json()["error"] == {
            "code": "throttled",
            "message": "Request was throttled. Expected available in 90 seconds.",
            "field": None,
        }
        clock.at(90)
        assert api_client.post(SENSITIVE).status_code == 200

    def test_waiting_the_retry_after_is_enough_and_a_moment_less_is_not(
        self, clock, three_a_minute
    ):
        patient, hasty = user_request(1), user_request(2)
        for request in (patient, hasty):
            assert burst(request, 3) == [True, True, True]
            assert check(request) == (False, 90.0)

        clock.at(89.999)
        assert check(hasty)[0] is False
        clock.at(90)
        assert check(patient)[0] is True

    def test_requests_pass_again_once_the_window_has_slid_past(self, clock, three_a_minute):
        request = user_request(1)
        assert burst(request, 4) == [True, True, True, False]

        clock.at(120)  # two windows on: nothing from the first minute weighs any more

        assert burst(request, 4) == [True, True, True, False]

    @pytest.mark.parametrize(
        ("seconds", "passing"),
        [
            (59.999, 0),  # still the first minute
            (60, 0),  # the previous minute weighs all 3
            (90, 1),  # half of it (1.5): 2.5 passes, 3.5 does not
            (100, 2),  # a third of it (1): 2 and 3 pass
            (119.999, 2),  # almost nothing of it, but not nothing
            (120, 3),  # the first minute is two windows back
        ],
    )
    def test_the_previous_window_weighs_by_what_is_left_of_this_one(
        self, clock, three_a_minute, seconds, passing
    ):
        request = user_request(1)
        assert burst(request, 3) == [True, True, True]

        clock.at(seconds)

        assert burst(request, 4) == [True] * passing + [False] * (4 - passing)

    def test_a_client_that_keeps_trying_while_refused_stays_refused_longer(
        self, clock, three_a_minute
    ):
        stopped, hammering = user_request(1), user_request(2)
        assert burst(stopped, 4) == [True, True, True, False]
        assert burst(hammering, 10) == [True] * 3 + [False] * 7

        clock.at(90)

        assert check(stopped)[0] is True  # 4 * 0.5 + 1 = 3
        # 10 * 0.5 + 1 = 6; the first minute's 10 weigh 1 only when 6 s of this one are left.
        assert check(hammering) == (False, 24.0)

    def test_a_rate_of_zero_refuses_everything(self, clock):
        with set_rates("0/min"):
            assert check(user_request(1)) == (False, 60.0)

    def test_the_rate_is_read_when_the_request_is_checked(self, clock):
        request = user_request(1)
        with set_rates("1/min"):
            assert burst(request, 2) == [True, False]
        with set_rates("5/min"):
            assert check(request)[0] is True


class TestIdentity:
    def test_another_user_is_not_affected(self, clock, three_a_minute):
        assert burst(user_request(1), 4) == [True, True, True, False]

        assert check(user_request(2))[0] is True

    def test_a_user_is_limited_whatever_address_they_come_from(self, clock, three_a_minute):
        assert burst(user_request(1, ip="10.0.0.1"), 3) == [True, True, True]

        assert check(user_request(1, ip="10.0.0.2"))[0] is False

    def test_anonymous_callers_are_limited_by_address(self, clock, three_a_minute):
        assert burst(anonymous_request("10.0.0.1"), 4) == [True, True, True, False]

        assert check(anonymous_request("10.0.0.2"))[0] is True
        assert check(user_request(1, ip="10.0.0.1"))[0] is True

    def test_the_cache_key_is_the_one_the_sliding_log_used(self):
        with set_rates("3/min"):
            throttle = SensitiveRateThrottle()

        assert throttle.get_cache_key(user_request(7), None) == "throttle_sensitive_user-7"
        assert throttle.get_cache_key(anonymous_request("10.1.2.3"), None) == (
            "throttle_sensitive_ip-10.1.2.3"
        )


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "counter"}
DATABASE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "counter_cache"}


@pytest.mark.parametrize("backend", [LOCMEM, DATABASE], ids=["locmem", "database"])
def test_the_fallback_backends_keep_the_limit(clock, three_a_minute, backend):
    with override_settings(CACHES={"default": backend}):
        if backend is DATABASE:
            call_command("createcachetable", verbosity=0)  # rolled back with the test
        request = user_request(1)
        assert burst(request, 4) == [True, True, True, False]
        clock.at(90)
        assert burst(request, 2) == [True, False]
        assert check(user_request(2))[0] is True


def test_on_the_database_cache_a_counter_outlives_the_default_timeout(clock):
    """BaseCache.incr() rewrites the entry with the cache's default timeout (300 s): an hour's
    counter must still be there through the next hour, which it weighs on."""
    with (
        override_settings(CACHES={"default": DATABASE}),
        set_rates("3/hour"),
        freeze_time("2030-01-01 00:00:00") as real_time,  # the cache's own expiry clock
    ):
        call_command("createcachetable", verbosity=0)
        request = user_request(1)
        assert burst(request, 3) == [True, True, True]

        real_time.tick(timedelta(minutes=10))
        clock.at(3600 + 1800)  # half way through the next hour: the first weighs 1.5

        assert burst(request, 2) == [True, False]


# --- Real Redis ----------------------------------------------------------------------------------


@pytest.fixture
def redis_default_cache():
    yield from default_cache_on_redis()


def test_on_redis_the_limit_holds_and_the_keys_carry_the_cache_prefix_and_a_ttl(
    clock, three_a_minute, redis_default_cache
):
    request = user_request(1)
    assert burst(request, 4) == [True, True, True, False]
    clock.at(90)
    assert burst(request, 2) == [True, False]

    client, prefix = redis_default_cache.client, redis_default_cache.prefix
    window = int(START) // 60
    this_minute = f"{prefix}:1:throttle_sensitive_user-1:{window + 1}"
    assert client.get(f"{prefix}:1:throttle_sensitive_user-1:{window}") == b"4"
    assert client.get(this_minute) == b"2"
    assert 0 < client.ttl(this_minute) <= 120
    # Plain integers, which the cache API reads back too.
    assert redis_default_cache.cache.get(f"throttle_sensitive_user-1:{window + 1}") == 2


def test_on_redis_a_check_is_one_round_trip(
    clock, three_a_minute, redis_default_cache, monkeypatch
):
    import redis

    direct: list[tuple] = []
    pipelines: list[int] = []
    execute_command = redis.Redis.execute_command
    execute = redis.client.Pipeline.execute

    def record_command(self, *args, **options):
        direct.append(args)
        return execute_command(self, *args, **options)

    def record_pipeline(self, *args, **kwargs):
        pipelines.append(len(self.command_stack))
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", record_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", record_pipeline)

    assert check(user_request(1))[0] is True

    assert (direct, pipelines) == ([], [3])


def concurrently(count: int, attempt) -> list[bool]:
    """`attempt()` in `count` threads released together; what each returned."""
    start = threading.Barrier(count)
    results: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        outcome = attempt()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == count
    return results


def test_on_redis_twenty_parallel_requests_get_exactly_the_limit(clock, redis_default_cache):
    with set_rates("5/min"):
        results = concurrently(
            20, lambda: SensitiveRateThrottle().allow_request(user_request(1), None)
        )

    assert results.count(True) == 5


class SlidingLogThrottle(drf_throttling.SimpleRateThrottle):
    """DRF's sliding log with the old SensitiveRateThrottle's rate and key."""

    rate = "5/min"
    get_cache_key = SensitiveRateThrottle.get_cache_key
    scope = "sensitive"


def test_on_redis_the_old_sliding_log_let_parallel_requests_through(redis_default_cache):
    """The race the counter closes: every request reads the history before any writes it back.

    The interleaving is forced (all reads, then all writes) so the outcome does not depend on timing.
    """
    everyone_has_read = threading.Barrier(20)
    real_cache = redis_default_cache.cache

    class ReadThenWait:
        def get(self, *args, **kwargs):
            history = real_cache.get(*args, **kwargs)
            everyone_has_read.wait()
            return history

        def set(self, *args, **kwargs):
            return real_cache.set(*args, **kwargs)

    def attempt() -> bool:
        throttle = SlidingLogThrottle()
        throttle.cache = ReadThenWait()
        return throttle.allow_request(user_request(1), None)

    results = concurrently(20, attempt)

    assert results.count(True) == 20  # a limit of 5
    assert len(real_cache.get("throttle_sensitive_user-1")) < 20  # and the history lost them
