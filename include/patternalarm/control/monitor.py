"""What ``monitor_detection_jobs`` does each minute (the DAG and the plugin only wire it).

1. ``snapshot`` every domain's job from Flink's REST API: state, checkpoint age, restarts in the
   last two intervals, the back-pressure ratio of its most back-pressured subtask, and — for a
   failed job — its root cause;
2. ``heal`` a job that is gone, failed or cancelled: resubmit it with the spec of its last healthy
   deployment (catalog version, **parameter overrides**, rules directory, parallelism) from its newest
   retained checkpoint — asked from Flink, or found on disk when Flink has forgotten the job (a
   JobManager that restarted without HA). Healing takes the domain's deployment lock without waiting
   (a deploy in progress is left alone) and backs off a job that keeps failing the same way;
3. ``assess`` snapshots, sink lag, healing and disk into findings;
4. ``report_incidents``: one ``platform`` incident per failing (check, entity), resolved when it passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from include.patternalarm.control.checkpoints import retained_checkpoint_of
from include.patternalarm.control.deployments import DeploymentStore
from include.patternalarm.control.health import (
    DiskThresholds,
    Finding,
    HealAttempt,
    HealBackoff,
    HealthThresholds,
    JobSnapshot,
    assess_disk,
    assess_job,
    assess_sink_lag,
    heal_delay,
    needs_resubmit,
)
from include.patternalarm.flink.deploy import deploy_domain, find_job, job_health
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
from include.patternalarm.rules import pipeline_name
from include.patternalarm.settings import Settings
from include.patternalarm.topics import DOMAINS

HEAL_LOCK_TTL_S = 300.0
#: How far back resubmissions count towards a back-off streak.
HEAL_HISTORY_S = 6 * 3600.0
DEFAULT_BACKOFF = HealBackoff()
DEFAULT_DISK = DiskThresholds()


def snapshot(settings: Settings, domain: str, window_s: float = 120.0) -> dict[str, Any]:
    """The domain's job as the monitor sees it (JSON-able, so it travels through XCom).

    Restarts are counted from the job's exception history over the last ``window_s`` seconds (two
    monitor intervals), so no state has to be carried between runs."""
    job = find_job(settings, domain)
    with FlinkRest(settings.flink_rest) as rest:
        if job is None:
            last = rest.newest_job(pipeline_name(domain))
            snap: dict[str, Any] = {"domain": domain, "job_id": last.id if last else None,
                                    "state": last.state if last else None}
            if last is not None and last.state == "FAILED":
                snap["cause"] = rest.root_exception(last.id)
            return snap
        health = job_health(settings, job.id, max_checkpoint_age_s=120.0)
        try:
            backpressure = rest.backpressure(job.id)
        except FlinkRestError:
            backpressure = 0.0  # the vertices are (re)starting: nothing to measure yet
        return {
            "domain": domain, "job_id": job.id, "state": health.state,
            "running_for_s": max(0.0, time.time() - job.start_time / 1000),
            "last_checkpoint_age_s": health.last_checkpoint_age_s, "restarts": health.restarts,
            "restarts_since_last_check": rest.failures_since(job.id, (time.time() - window_s) * 1000),
            "backpressure_ratio": round(backpressure, 3), "parallelism": health.parallelism,
            "detail": health.detail,
        }


def as_snapshot(data: dict[str, Any]) -> JobSnapshot:
    fields = ("domain", "job_id", "state", "running_for_s", "last_checkpoint_age_s", "restarts",
              "restarts_since_last_check", "backpressure_ratio")
    return JobSnapshot(**{k: data[k] for k in fields if k in data})


def stopped_on_purpose(store: DeploymentStore, domain: str) -> bool:
    """The domain's newest deployment record is an operator's ``stop`` (``deploy stop``): leave it stopped."""
    latest = store.latest(domain)
    return latest is not None and latest.action == "stop"


def flink_restore_point(settings: Settings, job_id: str) -> str | None:
    """External path of the job's newest completed checkpoint or savepoint as Flink reports it (None when
    Flink has none or does not know the job)."""
    try:
        with FlinkRest(settings.flink_rest) as rest:
            return rest.latest_restorable(job_id)
    except FlinkRestError:
        return None


def restore_point(settings: Settings, store: DeploymentStore, snap: dict[str, Any]) -> str | None:
    """Where to resubmit from: the newest checkpoint/savepoint of the job Flink reports; when Flink knows
    no job (its JobManager restarted), the newest retained checkpoint on disk of the job the deployment
    record names last, or that record's savepoint."""
    if snap.get("job_id"):
        found = flink_restore_point(settings, snap["job_id"])
        if found:
            return found
    latest = store.latest_job(snap["domain"])
    if latest is None or not latest.job_id:
        return None
    return retained_checkpoint_of(settings, latest.job_id) or latest.stop_savepoint or latest.restored_from


def heal(settings: Settings, store: DeploymentStore, snap: dict[str, Any], *, requested_by: str,
         backoff: HealBackoff = DEFAULT_BACKOFF, now: float | None = None) -> dict[str, Any] | None:
    """Resubmit a gone/failed/cancelled job of a domain meant to run. None when there is nothing to do;
    ``{"skipped": …}`` when a deploy holds the lock; ``{"backoff": …}`` while a repeated failure waits."""
    domain = snap["domain"]
    if not needs_resubmit(as_snapshot(snap)):
        return None
    desired = store.desired(domain)
    if desired is None:
        return None  # never deployed through the record: nothing to heal towards
    if stopped_on_purpose(store, domain):
        return None
    held = store.try_acquire(domain, requested_by, "heal", HEAL_LOCK_TTL_S)
    if held is not None:
        return {"domain": domain, "skipped": f"{held['holder']} holds the deployment lock ({held['purpose']})"}
    try:
        if find_job(settings, domain) is not None:
            return None  # a job appeared since the snapshot (a deploy placed it)
        attempts = [HealAttempt(at=r.requested_at.timestamp(), was=r.detail.get("was"), cause=r.detail.get("cause"))
                    for r in store.recent(domain, "resubmit", HEAL_HISTORY_S)]
        wait, streak = heal_delay(attempts, snap.get("state"), snap.get("cause"), now or time.time(), backoff)
        if wait > 0:
            return {"domain": domain, "backoff": True, "retry_in_s": round(wait), "streak": streak,
                    "cause": snap.get("cause"), "replaced": snap.get("job_id"), "was": snap.get("state")}
        restore = restore_point(settings, store, snap)
        job_id = deploy_domain(settings, domain, parallelism=desired.parallelism, catalog_version=desired.version,
                               overrides=desired.overrides, rules_dir=desired.rules_dir, savepoint_path=restore,
                               upgrade=False, auto_offset_reset=desired.startup_mode or "earliest",
                               wait_running=0)  # submit and move on: the next check sees whether it runs
        store.record(domain, action="resubmit", status="submitted", requested_by=requested_by, job_id=job_id,
                     catalog_version=desired.catalog_version, parallelism=desired.parallelism,
                     overrides=desired.overrides, rules_dir=desired.rules_dir, startup_mode=desired.startup_mode,
                     restored_from=restore,
                     detail={"replaced": snap.get("job_id"), "was": snap.get("state"), "cause": snap.get("cause"),
                             "streak": streak})
        return {"domain": domain, "job_id": job_id, "restored_from": restore, "replaced": snap.get("job_id"),
                "was": snap.get("state"), "overrides": desired.overrides}
    finally:
        store.release(domain, requested_by)


def heal_all(settings: Settings, store: DeploymentStore, snaps: list[dict[str, Any]], *, requested_by: str,
             heal_one: Callable[..., dict[str, Any] | None] | None = None) -> list[dict[str, Any] | None]:
    """``heal`` every domain at once (a restarted JobManager forgot all jobs: their submissions compile in
    parallel instead of one after the other). Results in the order of ``snaps``; when a domain's heal raised,
    the others still finish and the first error is raised after them."""
    heal_one = heal_one or heal
    with ThreadPoolExecutor(max_workers=max(1, len(snaps)), thread_name_prefix="heal") as pool:
        futures = [pool.submit(heal_one, settings, store, snap, requested_by=requested_by) for snap in snaps]
        wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def assess(snapshots: list[dict[str, Any]], sink_lag: int | None, thresholds: HealthThresholds,
           expected: set[str], healed: list[dict[str, Any]] = (), disk: dict[str, Any] | None = None,
           disk_thresholds: DiskThresholds = DEFAULT_DISK) -> list[Finding]:
    findings: list[Finding] = []
    backing_off = {h["domain"]: h for h in healed if h.get("backoff")}
    for snap in snapshots:
        if snap["domain"] not in expected and "running_for_s" not in snap:
            continue  # no job, and none is meant to run (never deployed, or stopped on purpose)
        findings += assess_job(as_snapshot(snap), thresholds)
        waiting = backing_off.get(snap["domain"])
        if waiting:
            findings.append(Finding("heal_backoff", snap["domain"], "critical",
                                    f"resubmitted {waiting['streak']} time(s) and it failed the same way each time; "
                                    f"next attempt in {waiting['retry_in_s']}s: {waiting.get('cause')}"))
        elif snap.get("state") == "RUNNING":
            findings.append(Finding("heal_backoff", snap["domain"], "ok", "running"))
    findings.append(assess_sink_lag(sink_lag, thresholds))
    if disk is not None:
        findings.append(assess_disk(disk["free_bytes"], disk["total_bytes"], disk["flink_state_bytes"],
                                    disk_thresholds))
    return findings


def report_incidents(open_incident: Callable[..., Any], resolve_incident: Callable[..., Any],
                     findings: list[Finding], healed: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Open/update a platform incident per critical finding; resolve the ones that pass again.
    ``open_incident(check, entity, severity, summary, details)``, ``resolve_incident(check, entity, note)``."""
    opened, resolved = [], []
    healed_by_domain = {h["domain"]: h for h in healed}
    for f in findings:
        check = f"flink_{f.check}" if f.entity in DOMAINS else f.check
        if f.severity == "critical":
            details = {"detail": f.detail, "healed": healed_by_domain.get(f.entity)}
            open_incident(check, f.entity, "high", f"{f.entity}: {f.detail}", details)
            opened.append(f"{check}/{f.entity}")
        elif f.ok:
            if resolve_incident(check, f.entity, f"healthy again: {f.detail}") is not None:
                resolved.append(f"{check}/{f.entity}")
    return {"opened": opened, "resolved": resolved}
