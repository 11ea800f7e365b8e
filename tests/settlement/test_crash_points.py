"""The drill's crash points: inert without the drill's environment, refused by production
settings, and when armed, seeded, bounded by a budget shared through the crash log."""

import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings

from settlement.payouts import crash_points
from settlement.payouts.crash_points import CrashPlan
from tests.test_settings import clean_env, run


def plan(tmp_path, **env):
    return CrashPlan.from_env(
        {
            crash_points.ENV_SEED: "3",
            crash_points.ENV_LOG: str(tmp_path / "crashes.log"),
            **env,
        }
    )


def test_without_the_drill_environment_crash_points_do_nothing():
    assert CrashPlan.from_env({}) is None
    assert crash_points._plan() is None  # this test process: no drill variables
    crash_points.crash_point("submit.before_bank", "any")  # returns: nothing was killed


def test_a_malformed_plan_is_refused_rather_than_silently_inert(tmp_path):
    with pytest.raises(ValueError, match="unknown crash point"):
        plan(tmp_path, **{crash_points.ENV_POINTS: "submit.somewhere=0.5"})
    with pytest.raises(ValueError, match="not in"):
        plan(tmp_path, **{crash_points.ENV_POINTS: "submit.after_bank=2"})
    with pytest.raises(ValueError, match=crash_points.ENV_LOG):
        CrashPlan.from_env({crash_points.ENV_POINTS: "submit.after_bank=0.5"})


def test_decisions_are_seeded_and_stop_at_the_budget(tmp_path):
    armed = plan(
        tmp_path,
        **{crash_points.ENV_POINTS: "submit.after_bank=0.5", crash_points.ENV_BUDGET: "2"},
    )
    keys = [f"payout-{n}:1" for n in range(40)]
    decisions = [armed.decide("submit.after_bank", key) for key in keys]
    assert decisions == [armed.decide("submit.after_bank", key) for key in keys]  # seeded
    assert 5 < sum(d is not None for d in decisions) < 35
    assert {d for d in decisions if d} == {"process", "group"}
    assert armed.decide("callback.before_commit", "x") is None  # not armed: rate 0

    (tmp_path / "crashes.log").write_text("1.0 submit.after_bank group 1 a\n" * 2)
    assert {armed.decide("submit.after_bank", key) for key in keys} == {None}  # budget spent


def test_first_hits_crash_each_armed_point_once_whatever_the_rate(tmp_path):
    armed = plan(
        tmp_path,
        **{
            crash_points.ENV_POINTS: "submit.before_bank=0,submit.after_bank=0.0001",
            crash_points.ENV_FIRST_HITS: "1",
        },
    )
    assert armed.decide("submit.before_bank", "k") is None  # rate 0: not armed
    assert armed.decide("submit.after_bank", "k") in ("process", "group")
    (tmp_path / "crashes.log").write_text("1.0 submit.after_bank group 1 k\n")
    assert armed.decide("submit.after_bank", "k2") is None


def test_first_hits_keep_budget_back_for_the_points_not_hit_yet(tmp_path):
    armed = plan(
        tmp_path,
        **{
            crash_points.ENV_POINTS: "submit.before_bank=1,callback.before_commit=1",
            crash_points.ENV_FIRST_HITS: "1",
            crash_points.ENV_BUDGET: "2",
        },
    )
    (tmp_path / "crashes.log").write_text("1.0 submit.before_bank group 1 k\n")
    # One crash left in the budget: it is kept for the callback point, whatever the rates say.
    assert armed.decide("submit.before_bank", "k2") is None
    assert armed.decide("callback.before_commit", "msg_1") in ("process", "group")


def test_an_armed_point_sigkills_the_process_and_logs_it_first(tmp_path):
    log = tmp_path / "crashes.log"
    env = {
        **os.environ,
        crash_points.ENV_POINTS: "submit.after_bank=1",
        crash_points.ENV_LOG: str(log),
        crash_points.ENV_SEED: "1",
    }
    code = (
        "from settlement.payouts.crash_points import crash_point\n"
        "crash_point('submit.after_bank', 'payout-1:1')\n"
        "print('survived')\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
        start_new_session=True,  # as the drill starts them: its group may be taken down
        check=False,
    )
    assert finished.returncode == -signal.SIGKILL
    assert "survived" not in finished.stdout
    (line,) = log.read_text().splitlines()
    assert line.split()[1] == "submit.after_bank" and line.endswith("payout-1:1")


def test_production_settings_refuse_to_start_with_crash_points_armed():
    result = run(
        ["manage.py", "check"],
        clean_env(**{crash_points.ENV_POINTS: "submit.after_bank=0.1"}),
    )
    assert result.returncode != 0
    assert "CLEARHOUSE_DRILL_CRASH_POINTS is for the settlement drill only" in result.stderr
