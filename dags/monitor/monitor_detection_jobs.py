"""
### monitor_detection_jobs

Every minute: the state of each domain's detection job, the age of its last completed checkpoint,
its restarts since the previous check and back-pressure, and the incident sink's consumer lag.

A job that is gone, failed or cancelled is **resubmitted** from its latest retained checkpoint at the
catalog version and parallelism of its last healthy deployment (`detection_deployments`) — unless
its newest record there is a `stop` (a deploy is replacing it, or it was stopped on purpose). Each
failing check keeps one incident open in the `platform` domain of the incident store
(`bin/patternalarm incidents list --domain platform`); it is resolved when the check passes again.
A TaskManager that dies is restarted by the stack's supervisor and the job by Flink's restart
strategy; this DAG watches that recovery and escalates restart storms.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from include.patternalarm.topics import DOMAINS

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=5)}


@dag(
    dag_id="monitor_detection_jobs",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=pendulum.duration(minutes=5),
    default_args=DEFAULT_ARGS,
    tags=["monitor", "flink"],
    doc_md=__doc__,
)
def monitor_detection_jobs():
    @task
    def snapshot_jobs() -> list[dict]:
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.monitor import snapshot

        flink = FlinkHook()
        return [snapshot(flink, domain) for domain in DOMAINS]

    @task
    def incident_sink_lag() -> int | None:
        from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook
        from patternalarm_airflow.monitor import sink_lag

        return sink_lag(KafkaLagHook())

    @task(pool="flink_control")
    def heal_jobs(snapshots: list[dict]) -> list[dict]:
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook
        from patternalarm_airflow.monitor import heal

        ctx = get_current_context()
        flink, store = FlinkHook(), IncidentStoreHook()
        healed = []
        for snap in snapshots:
            result = heal(flink, store, snap, requested_by=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
            if result:
                print(f"healed {result['domain']}: job {result['replaced']} was {result['was']}; "
                      f"resubmitted as {result['job_id']} from {result['restored_from'] or 'committed offsets'}")
                healed.append(result)
        return healed

    @task
    def report(snapshots: list[dict], lag: int | None, healed: list[dict]) -> dict:
        from include.patternalarm.control.health import HealthThresholds
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook
        from patternalarm_airflow.monitor import assess, report_incidents, stopped_on_purpose

        store = IncidentStoreHook()
        expected = {d for d in DOMAINS if store.desired_deployment(d) and not stopped_on_purpose(store, d)}
        findings = assess(snapshots, lag, HealthThresholds(), expected)
        for f in findings:
            print(f"[{f.severity:>8}] {f.entity:<14} {f.check:<15} {f.detail}")
        outcome = report_incidents(store, findings, healed)
        outcome["findings"] = [f.as_dict() for f in findings]
        return outcome

    snaps = snapshot_jobs()
    report(snaps, incident_sink_lag(), heal_jobs(snaps))


monitor_detection_jobs()
