"""
### monitor_detection_jobs

Every minute, and at once when the JobManager restarts (the stack's `flink-restart-watch` triggers a run):
the state of each domain's detection job, the age of its last completed checkpoint,
its restarts since the previous check and the back-pressure of its most back-pressured subtask, the
incident sink's consumer lag, and the disk that holds Flink's checkpoints.

A job that is gone, failed or cancelled is **resubmitted** with the spec of its last healthy
deployment (`detection_deployments`: catalog version, parameter overrides, parallelism) from its
newest retained checkpoint — from Flink, or from disk when a restarted JobManager forgot the job —
unless an operator stopped it (`deploy stop`) or a deploy holds the domain's deployment lock. The domains
are resubmitted in parallel (a restarted JobManager forgot all of them). A job
that fails the same way after every resubmission is retried after 1, 2, 4 … minutes, not every minute.

A running shadow (`bin/patternalarm shadow start`) whose job failed or that a restarted JobManager
forgot is resubmitted the same way (task `heal_shadows`); one cancelled by `shadow stop|promote` is not.

A rule whose required field (`requires` in its catalog entry) none of the domain's newest 1,000 events
carries cannot fire: the `rule_fields` task names it in its log (and `bin/patternalarm deploy status`
and every deploy warn about it).

Retained checkpoints and savepoints that neither healing nor a rollback needs any more are deleted
(older than an hour); disk pressure on the data directory is a finding like the others.

Each failing check keeps one incident open in the `platform` domain of the incident store
(`bin/patternalarm incidents list --domain platform`); it is resolved when the check passes again.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from include.patternalarm.topics import DOMAINS

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=5),
                "execution_timeout": pendulum.duration(minutes=4)}


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
        from patternalarm_airflow.monitor import heal_all, heal_summary

        ctx = get_current_context()
        results = heal_all(FlinkHook(), IncidentStoreHook(), snapshots,
                           requested_by=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
        healed = [result for result in results if result]
        for result in healed:
            print(heal_summary(result, result["domain"]))
        return healed

    @task(pool="flink_control")
    def heal_shadows() -> list[dict]:
        """A running shadow (``bin/patternalarm shadow start``) whose job failed or vanished is resubmitted."""
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook
        from patternalarm_airflow.monitor import heal_shadow, heal_summary

        ctx = get_current_context()
        flink, store = FlinkHook(), IncidentStoreHook()
        healed = []
        for domain in DOMAINS:
            result = heal_shadow(flink, store, domain, requested_by=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
            if result:
                print(heal_summary(result, f"the {domain} shadow"))
                healed.append(result)
        return healed

    @task
    def checkpoints_and_disk() -> dict:
        """Delete retained checkpoints/savepoints nothing needs any more; measure the data disk."""
        from include.patternalarm.control.checkpoints import clean, disk_usage, summarize
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        settings = FlinkHook().settings
        result = clean(settings, IncidentStoreHook().deployments(), DOMAINS)
        print(summarize(result), *result["errors"], sep="\n")
        for item in result["deleted"]:
            print(f"  deleted {item['path']} ({item['bytes']} bytes, {item['age_s']}s old)")
        return disk_usage(settings)

    @task
    def rule_fields(snapshots: list[dict]) -> list[str]:
        """Rules that cannot fire: a field they require is absent from the newest 1,000 events of their domain."""
        from include.patternalarm.control.fields import live_field_warnings
        from include.patternalarm.flink.deploy import catalog_kwargs
        from include.patternalarm.rules import load_catalog
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        settings, store = FlinkHook().settings, IncidentStoreHook().deployments()
        found: list[str] = []
        for snap in snapshots:
            record = store.desired(snap["domain"])
            if snap.get("state") != "RUNNING" or record is None:
                continue
            catalog = load_catalog(record.version, overrides=record.overrides, **catalog_kwargs(record.rules_dir))
            found += live_field_warnings(settings, snap["domain"], catalog)
        for warning in found:
            print(f"WARNING {warning}")
        return found

    @task
    def report(snapshots: list[dict], lag: int | None, healed: list[dict], disk: dict) -> dict:
        from include.patternalarm.control.health import HealthThresholds
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook
        from patternalarm_airflow.monitor import assess, report_incidents, stopped_on_purpose

        store = IncidentStoreHook()
        expected = {d for d in DOMAINS if store.desired_deployment(d) and not stopped_on_purpose(store, d)}
        findings = assess(snapshots, lag, HealthThresholds(), expected, healed, disk)
        for f in findings:
            print(f"[{f.severity:>8}] {f.entity:<14} {f.check:<15} {f.detail}")
        outcome = report_incidents(store, findings, healed)
        outcome["findings"] = [f.as_dict() for f in findings]
        return outcome

    snaps = snapshot_jobs()
    healed = heal_jobs(snaps)
    report(snaps, incident_sink_lag(), healed, checkpoints_and_disk())
    healed >> heal_shadows()  # the live jobs first
    rule_fields(snaps)


monitor_detection_jobs()
