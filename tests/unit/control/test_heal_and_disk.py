"""Healing backs off a job that fails the same way again and again; disk pressure is judged on free space."""

from __future__ import annotations

from include.patternalarm.control.health import HealAttempt, HealBackoff, assess_disk, heal_delay

NOW = 1_000_000.0
SAME = "Caused by: java.lang.IllegalStateException: poison"


def attempts(*ages_s: float, was: str = "FAILED", cause: str = SAME) -> list[HealAttempt]:
    return [HealAttempt(at=NOW - age, was=was, cause=cause) for age in ages_s]


def test_the_first_failure_is_resubmitted_at_once() -> None:
    assert heal_delay([], "FAILED", SAME, NOW) == (0.0, 0)


def test_a_job_failing_the_same_way_every_minute_waits_longer_and_longer() -> None:
    # resubmitted a minute ago, failed again the same way: wait until 60 s after that resubmission
    assert heal_delay(attempts(30), "FAILED", SAME, NOW) == (30.0, 1)
    assert heal_delay(attempts(60), "FAILED", SAME, NOW) == (0.0, 1)
    # the same failure after 2, 3, 4 resubmissions: 2, 4, 8 minutes after the latest one
    assert heal_delay(attempts(60, 120), "FAILED", SAME, NOW) == (60.0, 2)
    assert heal_delay(attempts(60, 180, 300), "FAILED", SAME, NOW) == (180.0, 3)
    assert heal_delay(attempts(60, 240, 420, 600), "FAILED", SAME, NOW) == (420.0, 4)


def test_the_wait_is_capped() -> None:
    many = attempts(*[60.0 * i for i in range(1, 20)])
    wait, streak = heal_delay(many, "FAILED", SAME, NOW, HealBackoff(base_s=60, max_s=600))
    assert streak == 19 and wait == 540.0


def test_a_different_cause_or_a_job_that_was_merely_gone_resets_the_streak() -> None:
    assert heal_delay(attempts(30), "FAILED", "Caused by: something else", NOW) == (0.0, 0)
    assert heal_delay(attempts(30, was="CANCELED"), "FAILED", SAME, NOW) == (0.0, 0)
    mixed = attempts(30) + attempts(90, cause="older, other failure") + attempts(150)
    assert heal_delay(mixed, "FAILED", SAME, NOW) == (30.0, 1)
    for state in (None, "CANCELED", "FINISHED"):  # gone (a JobManager loss) or cancelled: no back-off
        assert heal_delay(attempts(10, 20, 30), state, SAME, NOW) == (0.0, 0)


def test_disk_pressure() -> None:
    gib = 2**30
    assert assess_disk(50 * gib, 100 * gib, 1 * gib).severity == "ok"
    assert assess_disk(15 * gib, 100 * gib, 1 * gib).severity == "warning"
    assert assess_disk(5 * gib, 100 * gib, 40 * gib).severity == "critical"
    low = assess_disk(1 * gib, 8 * gib, 0)  # 12 % free but under 2 GiB
    assert low.severity == "critical" and "1.0 GiB free" in low.detail
