"""Tasks held by a killed worker come back within minutes: Redis's visibility timeout is fitted to
the longest task (not Redis's default hour), and expired messages are looked for often."""

from django.conf import settings

from config.settings.base import broker_transport_options


def test_the_visibility_timeout_fits_the_longest_task_and_is_minutes():
    options = broker_transport_options("redis://127.0.0.1:6379/0")
    assert settings.CELERY_TASK_TIME_LIMIT < options["visibility_timeout"] <= 300
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 10
