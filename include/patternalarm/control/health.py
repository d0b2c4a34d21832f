"""Health of a detection job from what Flink's REST API and Kafka report — pure, so it is unit-tested.

Each check yields a `Finding`; a job is healthy when no finding is `critical`. The monitor DAG heals
what it can (resubmits a job that is gone or failed) and keeps one `platform` incident per
(check, domain) open while the finding lasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class HealthThresholds:
    max_checkpoint_age_s: float = 120.0  # last completed checkpoint older than this: unhealthy
    max_restarts_per_check: int = 3  # restarts since the previous look
    max_backpressure_ratio: float = 0.5  # busiest vertex backpressured this share of the time
    max_sink_lag: int = 10_000  # incident-sink consumer lag (alerts not yet in PostgreSQL)


@dataclass(frozen=True)
class JobSnapshot:
    domain: str
    job_id: str | None  # None: no job of this domain is known to Flink
    state: str | None  # RUNNING, RESTARTING, FAILED, CANCELED, FINISHED, ...
    running_for_s: float = 0.0
    last_checkpoint_age_s: float | None = None  # None: no completed checkpoint yet
    restarts: int = 0
    restarts_since_last_check: int = 0
    backpressure_ratio: float = 0.0


@dataclass(frozen=True)
class Finding:
    check: str  # job_state, checkpoint_age, restarts, backpressure, sink_lag
    entity: str  # domain (or "incident-sink")
    severity: str  # ok, warning, critical
    detail: str

    @property
    def ok(self) -> bool:
        return self.severity == "ok"

    def as_dict(self) -> dict:
        return asdict(self)


HEALABLE_STATES = {None, "FAILED", "CANCELED", "FINISHED", "SUSPENDED"}


def needs_resubmit(snapshot: JobSnapshot) -> bool:
    """A job that is gone or ended needs resubmission; RESTARTING jobs heal themselves (restart strategy)."""
    return snapshot.state in HEALABLE_STATES


def assess_job(snapshot: JobSnapshot, t: HealthThresholds) -> list[Finding]:
    d = snapshot.domain
    findings: list[Finding] = []
    if snapshot.state == "RUNNING":
        detail = f"job {snapshot.job_id} RUNNING for {snapshot.running_for_s:.0f}s"
        findings.append(Finding("job_state", d, "ok", detail))
    elif snapshot.state in ("RESTARTING", "INITIALIZING", "CREATED", "RECONCILING"):
        findings.append(Finding("job_state", d, "warning", f"job {snapshot.job_id} is {snapshot.state}"))
    else:
        what = "no job deployed" if snapshot.job_id is None else f"job {snapshot.job_id} is {snapshot.state}"
        findings.append(Finding("job_state", d, "critical", what))
        return findings

    age = snapshot.last_checkpoint_age_s
    grace = t.max_checkpoint_age_s
    if age is None:
        severity = "critical" if snapshot.running_for_s > grace else "ok"
        findings.append(Finding("checkpoint_age", d, severity,
                                f"no completed checkpoint after {snapshot.running_for_s:.0f}s"))
    else:
        severity = "critical" if age > grace else "ok"
        findings.append(Finding("checkpoint_age", d, severity, f"last checkpoint {age:.0f}s ago (limit {grace:.0f}s)"))

    severity = "critical" if snapshot.restarts_since_last_check > t.max_restarts_per_check else (
        "warning" if snapshot.restarts_since_last_check else "ok")
    findings.append(Finding("restarts", d, severity,
                            f"{snapshot.restarts_since_last_check} restart(s) in the last check window "
                            f"({snapshot.restarts} in total)"))
    severity = "warning" if snapshot.backpressure_ratio > t.max_backpressure_ratio else "ok"
    findings.append(Finding("backpressure", d, severity, f"busiest vertex backpressured "
                                                          f"{snapshot.backpressure_ratio:.0%} of the time"))
    return findings


def assess_sink_lag(lag: int | None, t: HealthThresholds) -> Finding:
    if lag is None:
        return Finding("sink_lag", "incident-sink", "critical", "incident sink consumer group has no committed offsets")
    severity = "critical" if lag > t.max_sink_lag else "ok"
    return Finding("sink_lag", "incident-sink", severity, f"{lag} alert(s) not yet stored (limit {t.max_sink_lag})")


# --- healing a job that keeps failing the same way -------------------------------------------------

@dataclass(frozen=True)
class HealAttempt:
    """One resubmission by the monitor: when, what state the replaced job was in, and its root cause."""

    at: float  # epoch seconds
    was: str | None
    cause: str | None


@dataclass(frozen=True)
class HealBackoff:
    base_s: float = 60.0  # the wait after the first repeat of a failure; doubles with every further repeat
    max_s: float = 3600.0


def heal_delay(attempts: list[HealAttempt], state: str | None, cause: str | None, now: float,
               policy: HealBackoff | None = None) -> tuple[float, int]:
    """(seconds to wait before resubmitting again, how many resubmissions in a row met the same failure).

    A job that is gone, cancelled or finished is resubmitted at once. A job that FAILED with the same root
    cause as the jobs of the last ``n`` resubmissions waits ``base · 2^(n-1)`` seconds (capped) after the
    latest one: a job that fails the same way every minute is resubmitted after 1, 2, 4, 8 … minutes
    instead of every minute forever, and the monitor says so in a platform incident.
    """
    policy = policy or HealBackoff()
    if state != "FAILED" or not cause:
        return 0.0, 0
    streak = 0
    for attempt in sorted(attempts, key=lambda a: a.at, reverse=True):
        if attempt.was == "FAILED" and attempt.cause == cause:
            streak += 1
        else:
            break
    if streak == 0:
        return 0.0, 0
    wait = min(policy.max_s, policy.base_s * 2 ** (streak - 1))
    latest = max(a.at for a in attempts)
    return max(0.0, latest + wait - now), streak


# --- disk -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DiskThresholds:
    min_free_ratio: float = 0.10  # critical below 10 % free on the data directory's filesystem
    min_free_bytes: int = 2 * 2**30  # … or below 2 GiB free
    warn_free_ratio: float = 0.20


def assess_disk(free_bytes: int, total_bytes: int, flink_state_bytes: int, t: DiskThresholds | None = None,
                entity: str = "data-dir") -> Finding:
    """Disk pressure on the filesystem that holds Flink's checkpoints and savepoints (and everything else)."""
    t = t or DiskThresholds()
    ratio = free_bytes / total_bytes if total_bytes else 0.0
    gib = 2**30
    detail = (f"{free_bytes / gib:.1f} GiB free of {total_bytes / gib:.1f} GiB ({ratio:.0%}); retained Flink "
              f"checkpoints and savepoints take {flink_state_bytes / gib:.2f} GiB")
    if ratio < t.min_free_ratio or free_bytes < t.min_free_bytes:
        return Finding("disk_pressure", entity, "critical", detail)
    if ratio < t.warn_free_ratio:
        return Finding("disk_pressure", entity, "warning", detail)
    return Finding("disk_pressure", entity, "ok", detail)
