from __future__ import annotations

from include.patternalarm.control.health import (
    HealthThresholds,
    JobSnapshot,
    assess_job,
    assess_sink_lag,
    needs_resubmit,
)

T = HealthThresholds(max_checkpoint_age_s=60, max_restarts_per_check=2, max_backpressure_ratio=0.5, max_sink_lag=100)


def by_check(findings):
    return {f.check: f for f in findings}


def test_healthy_running_job() -> None:
    f = by_check(assess_job(JobSnapshot("payments", "j1", "RUNNING", 300, 8.0, 0, 0, 0.1), T))
    assert all(x.ok for x in f.values())
    assert set(f) == {"job_state", "checkpoint_age", "restarts", "backpressure"}


def test_missing_or_failed_job_is_critical_and_resubmitted() -> None:
    gone = (JobSnapshot("iot", None, None), JobSnapshot("iot", "j", "FAILED"), JobSnapshot("iot", "j", "CANCELED"))
    for snap in gone:
        (finding,) = assess_job(snap, T)
        assert (finding.check, finding.severity) == ("job_state", "critical")
        assert needs_resubmit(snap)
    assert not needs_resubmit(JobSnapshot("iot", "j", "RESTARTING"))
    assert not needs_resubmit(JobSnapshot("iot", "j", "RUNNING"))


def test_stale_checkpoint_and_restart_storm() -> None:
    f = by_check(assess_job(JobSnapshot("gaming", "j", "RUNNING", 600, 300.0, 9, 5, 0.9), T))
    assert f["checkpoint_age"].severity == "critical"
    assert f["restarts"].severity == "critical"
    assert f["backpressure"].severity == "warning"


def test_no_checkpoint_is_fine_only_during_grace() -> None:
    assert by_check(assess_job(JobSnapshot("gaming", "j", "RUNNING", 10, None), T))["checkpoint_age"].ok
    assert not by_check(assess_job(JobSnapshot("gaming", "j", "RUNNING", 100, None), T))["checkpoint_age"].ok


def test_sink_lag() -> None:
    assert assess_sink_lag(5, T).ok
    assert assess_sink_lag(500, T).severity == "critical"
    assert assess_sink_lag(None, T).severity == "critical"
