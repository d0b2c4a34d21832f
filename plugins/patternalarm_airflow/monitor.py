"""``monitor_detection_jobs`` on top of the hooks: the logic is ``include.patternalarm.control.monitor``
(shared with the command line and tested there); this module only hands it the connections' endpoints,
the deployment record and the platform incidents of the ``postgres_incidents`` connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from include.patternalarm.control import monitor
from include.patternalarm.control.health import Finding, HealthThresholds
from include.patternalarm.topics import ALERTS

if TYPE_CHECKING:
    from patternalarm_airflow.hooks.flink import FlinkHook
    from patternalarm_airflow.hooks.incidents import IncidentStoreHook
    from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook

SINK_GROUP = "patternalarm-incident-sink"


def snapshot(flink: FlinkHook, domain: str, window_s: float = 120.0) -> dict[str, Any]:
    return monitor.snapshot(flink.settings, domain, window_s)


def heal(flink: FlinkHook, store: IncidentStoreHook, snap: dict[str, Any], requested_by: str) -> dict[str, Any] | None:
    return monitor.heal(flink.settings, store.deployments(), snap, requested_by=requested_by)


def heal_all(flink: FlinkHook, store: IncidentStoreHook, snaps: list[dict[str, Any]], requested_by: str
             ) -> list[dict[str, Any] | None]:
    return monitor.heal_all(flink.settings, store.deployments(), snaps, requested_by=requested_by)


def heal_shadow(flink: FlinkHook, store: IncidentStoreHook, domain: str, requested_by: str) -> dict[str, Any] | None:
    from include.patternalarm.control import shadow

    return shadow.heal(flink.settings, store.shadows(), domain, requested_by=requested_by)


def heal_summary(result: dict[str, Any], subject: str) -> str:
    """The log line of one heal (a live job's or a shadow's): skipped, backing off, or resubmitted."""
    if result.get("skipped"):
        return f"not healing {subject}: {result['skipped']}"
    if result.get("backoff"):
        return (f"not healing {subject} yet: it failed the same way after {result['streak']} resubmission(s); "
                f"next attempt in {result['retry_in_s']}s ({result['cause']})")
    line = (f"healed {subject}: job {result['replaced']} was {result['was']}; resubmitted as {result['job_id']} "
            f"from {result['restored_from'] or 'its committed offsets'}")
    return line + (f" with overrides {result['overrides'] or 'none'}" if "overrides" in result else "")


def stopped_on_purpose(store: IncidentStoreHook, domain: str) -> bool:
    return monitor.stopped_on_purpose(store.deployments(), domain)


def assess(snapshots: list[dict[str, Any]], sink_lag: int | None, thresholds: HealthThresholds,
           expected: set[str], healed: list[dict[str, Any]] = (), disk: dict[str, Any] | None = None
           ) -> list[Finding]:
    return monitor.assess(snapshots, sink_lag, thresholds, expected, healed, disk)


def sink_lag(kafka: KafkaLagHook) -> int | None:
    report = kafka.lag(SINK_GROUP, [ALERTS])
    if all(p.committed is None for p in report.partitions) and report.end_offsets:
        return None
    return report.total


def report_incidents(store: IncidentStoreHook, findings: list[Finding], healed: list[dict[str, Any]]) -> dict:
    return monitor.report_incidents(store.open_platform_incident, store.resolve_platform_incident, findings, healed)
