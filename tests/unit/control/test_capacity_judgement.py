"""The capacity step's judgement (``bench``): kept up only with the lag held and every scenario alert in."""

from __future__ import annotations

from include.patternalarm.bench import judge_step


def test_a_step_that_held_its_lag_and_lost_nothing_keeps_up() -> None:
    ok, reasons = judge_step(rate=10_000, achieved=9_950, lag_start=500, lag_end=20_000, lost=0)
    assert ok and reasons == []


def test_lag_grown_by_more_than_two_seconds_of_traffic_falls_behind() -> None:
    # the example of issue 14: a 10 s step at 8,000/s during which the lag grew from 59 to 78,192
    ok, reasons = judge_step(rate=8_000, achieved=8_000, lag_start=59, lag_end=78_192, lost=0)
    assert not ok and "lag grew from 59 to 78,192" in reasons[0]


def test_a_lost_or_pending_scenario_alert_falls_behind() -> None:
    assert judge_step(rate=1_000, achieved=1_000, lag_start=0, lag_end=0, lost=1) == (
        False, ["1 scenario alert(s) of the step did not arrive"])
    ok, reasons = judge_step(rate=1_000, achieved=1_000, lag_start=0, lag_end=0, lost=None)
    assert not ok and "did not catch up" in reasons[0]


def test_a_generator_short_of_the_rate_is_not_counted_as_sustained() -> None:
    ok, reasons = judge_step(rate=25_000, achieved=12_000, lag_start=0, lag_end=0, lost=0)
    assert not ok and "traffic generator reached 12,000/s of 25,000/s" in reasons[0]
