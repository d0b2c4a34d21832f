"""What `monitor_detection_jobs` does each minute, on top of the hooks (the DAG only wires it).

1. snapshot every domain's job from Flink's REST API, and the incident sink's consumer lag;
2. assess them (``include.patternalarm.control.health``);
3. heal: resubmit a job that is gone, failed or cancelled — from its latest retained checkpoint (or
   savepoint), at the version and parallelism of the last healthy deployment;
4. keep one `platform` incident per failing (check, entity) open, and resolve it once the check passes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from include.patternalarm.control.health import (
    Finding,
    HealthThresholds,
    JobSnapshot,
    assess_job,
    assess_sink_lag,
    needs_resubmit,
)
from include.patternalarm.topics import ALERTS, DOMAINS

if TYPE_CHECKING:
    from patternalarm_airflow.hooks.flink import FlinkHook
    from patternalarm_airflow.hooks.incidents import IncidentStoreHook
    from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook

SINK_GROUP = "patternalarm-incident-sink"


def snapshot(flink: FlinkHook, domain: str, window_s: float = 120.0) -> dict[str, Any]:
    """The domain's job as the monitor sees it (JSON-able, so it can travel through XCom).

    Restarts are counted from the job's exception history over the last ``window_s`` seconds
    (two monitor intervals), so no state has to be carried between runs.
    """
    job = flink.find_job(domain)
    if job is None:
        last = flink.last_job(domain)
        return {"domain": domain, "job_id": last["id"] if last else None, "state": last["state"] if last else None}
    health = flink.health(job.id, max_checkpoint_age_s=120.0)
    return {
        "domain": domain, "job_id": job.id, "state": health.state,
        "running_for_s": max(0.0, time.time() - job.start_time / 1000),
        "last_checkpoint_age_s": health.last_checkpoint_age_s, "restarts": health.restarts,
        "restarts_since_last_check": flink.recent_failures(job.id, window_s),
        "parallelism": health.parallelism, "detail": health.detail,
    }


def as_snapshot(data: dict[str, Any]) -> JobSnapshot:
    fields = ("domain", "job_id", "state", "running_for_s", "last_checkpoint_age_s", "restarts",
              "restarts_since_last_check", "backpressure_ratio")
    return JobSnapshot(**{k: data[k] for k in fields if k in data})


def heal(flink: FlinkHook, store: IncidentStoreHook, snap: dict[str, Any], requested_by: str) -> dict[str, Any] | None:
    """Resubmit a gone/failed/cancelled job of a domain that is meant to run; None when nothing to do."""
    domain = snap["domain"]
    if not needs_resubmit(as_snapshot(snap)):
        return None
    desired = store.desired_deployment(domain)
    if desired is None and snap["job_id"] is None:
        return None  # never deployed here: nothing to heal towards
    if stopped_on_purpose(store, domain):
        return None  # a deploy is replacing it (or an operator stopped it): healing would race the deploy
    if flink.find_job(domain) is not None:
        return None  # a job appeared since the snapshot (a deploy placed it)
    restore = flink.latest_completed_checkpoint(snap["job_id"]) if snap["job_id"] else None
    version = (desired or {}).get("catalog_version")
    parallelism = int((desired or {}).get("parallelism") or 1)
    job_id = flink.deploy(domain, parallelism=parallelism,
                          catalog_version=int(version) if version and str(version).isdigit() else None,
                          savepoint_path=restore)
    store.record_deployment(domain=domain, catalog_version=version or "default", parallelism=parallelism,
                            action="resubmit", status="submitted", requested_by=requested_by, job_id=job_id,
                            restored_from=restore, detail={"replaced": snap["job_id"], "was": snap["state"]})
    return {"domain": domain, "job_id": job_id, "restored_from": restore, "replaced": snap["job_id"],
            "was": snap["state"]}


def stopped_on_purpose(store: IncidentStoreHook, domain: str) -> bool:
    """The domain's newest deployment record is a stop: `deploy_detection_jobs` is between stopping the
    old job and recording the new one healthy (its rollback covers a failure), or an operator stopped it."""
    latest = store.latest_deployment(domain)
    return latest is not None and latest["action"] == "stop"


def assess(snapshots: list[dict[str, Any]], sink_lag: int | None, thresholds: HealthThresholds,
           expected: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    for snap in snapshots:
        if snap["domain"] not in expected and "running_for_s" not in snap:
            continue  # no job, and none is meant to run (never deployed, or stopped on purpose)
        findings += assess_job(as_snapshot(snap), thresholds)
    findings.append(assess_sink_lag(sink_lag, thresholds))
    return findings


def sink_lag(kafka: KafkaLagHook) -> int | None:
    report = kafka.lag(SINK_GROUP, [ALERTS])
    if all(p.committed is None for p in report.partitions) and report.end_offsets:
        return None
    return report.total


def report_incidents(store: IncidentStoreHook, findings: list[Finding], healed: list[dict[str, Any]]) -> dict:
    """Open/update a platform incident per critical finding; resolve the ones that pass again."""
    opened, resolved = [], []
    healed_by_domain = {h["domain"]: h for h in healed}
    for f in findings:
        check = f"flink_{f.check}" if f.entity in DOMAINS else f.check
        if f.severity == "critical":
            details = {"detail": f.detail, "healed": healed_by_domain.get(f.entity)}
            store.open_platform_incident(check, f.entity, "high", f"{f.entity}: {f.detail}", details)
            opened.append(f"{check}/{f.entity}")
        elif f.ok:
            if store.resolve_platform_incident(check, f.entity, f"healthy again: {f.detail}") is not None:
                resolved.append(f"{check}/{f.entity}")
    return {"opened": opened, "resolved": resolved}
