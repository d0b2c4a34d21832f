"""
### reconcile_detection

Proves, hour by hour, that the detection stream lost nothing: an independent Spark batch pass over
the same Kafka records (Spark's Kafka source, bounded by record timestamps) checks

- **completeness** per domain and minute: every record of `events.<domain>` was processed,
  dead-lettered or counted late/duplicate by the detection job (`detection.metrics`);
- **alerts** (payments rules, IoT out_of_range): the rules re-detected in Spark SQL give the same
  `alert_id`s as the `alerts` table — *missed* (batch only), *spurious* (stream only), *matched*,
  or *edge* (a difference that state from before the read window may explain; reported, not failed).

Range edges: the range applies to Kafka record timestamps; the job also reads a margin before it
(default: what the rules need — 60 min for payments, 10 min for IoT) and judges the alerts
whose **completing** event was received in the range, so consecutive hourly runs judge every alert
exactly once. See `docs/batch.md`.

Results: `reconciliation_runs`, `reconciliation_diffs`, `reconciliation_completeness`; the summary
is in the logs of `reconcile` and `evaluate`. Missed or spurious alerts, or minutes with
unaccounted records, **fail the run** and open a `platform` incident (`reconcile_detection` on the
domain).

Params: `start`/`end` (ISO-8601 UTC on whole minutes; default: the last full hour that ended at
least `settle_minutes` ago), `domains`, `margin_minutes`, `catalog_version` / `rule_overrides` (the
rule parameters deployed, if not the catalog defaults), `topics` (read other topics, e.g. a replay),
`label`. Without `catalog_version` / `rule_overrides`, each domain is re-detected with the catalog
version and parameter overrides its job ran with over the range (`detection_deployments`; when a
redeploy falls inside the range, the deployment live longest is used and the log says so).
Scheduled hourly at :10. The `reconcile` task updates the `reconciliation_runs` asset, which
triggers `validate_incident_tables`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task

from patternalarm_airflow.operators.spark import PatternalarmSparkSubmitOperator

DOMAINS = ["payments", "gaming", "iot"]
# a finished reconciliation triggers validate_incident_tables (scheduled on this asset or hourly)
RECONCILIATION_RUNS = Asset(name="reconciliation_runs", uri="patternalarm://incident-store/reconciliation_runs")
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(minutes=1),
                "execution_timeout": pendulum.duration(minutes=30)}
_TIME = {"type": ["null", "string"], "format": "date-time"}

PARAMS = {
    "start": Param(None, **_TIME, title="Range start (UTC, whole minute)",
                   description="Kafka record time, inclusive. Empty: the hour before the run (see settle_minutes)."),
    "end": Param(None, **_TIME, title="Range end (UTC, whole minute)", description="Exclusive. Empty: start + 1 h."),
    "domains": Param(DOMAINS, type="array", items={"type": "string", "enum": DOMAINS}, minItems=1, uniqueItems=True,
                     title="Domains", description="Completeness for each; alerts for payments and iot."),
    "settle_minutes": Param(5, type="integer", minimum=0, maximum=180,
                            description="Default range: the last full hour that ended at least this long ago."),
    "margin_minutes": Param(None, type=["null", "integer"], minimum=0, maximum=240,
                            description="Read this much before the range (empty: what the rules need, "
                                        "see docs/batch.md)."),
    "catalog_version": Param(None, type=["null", "integer"], minimum=1,
                             description="Rule catalog version (empty: each domain's deployed version as "
                                         "detection_deployments records it, else the newest)."),
    "rule_overrides": Param({}, type="object", description="Parameter overrides {rule: {param: value}} (empty: "
                                                           "those each job ran with, from detection_deployments)."),
    "rules": Param([], type="array", items={"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, uniqueItems=True,
                   description="Re-detect only these rules (empty: every rule the batch can run)."),
    "topics": Param({}, type="object", additionalProperties={"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
                    propertyNames={"enum": [*DOMAINS, "late", "dlq", "metrics", "alerts"]},
                    description="Advanced: read these topics instead of the platform's (a replay, a test)."),
    "label": Param("", type="string", maxLength=200, description="Free text stored with the run."),
}


@dag(
    dag_id="reconcile_detection",
    schedule="10 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["batch", "spark", "platform"],
    doc_md=__doc__,
)
def reconcile_detection():
    @task
    def plan(params=None, dag_run=None) -> dict:
        """Resolve the params into the job's configuration and record the run as running."""
        import logging

        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowFailException

        from include.patternalarm.batch.plan import PlanError, jdbc_url, plan_reconciliation
        from include.patternalarm.batch.runs import deployed_parameters, dominant, open_reconciliation
        from include.patternalarm.batch.timerange import RangeError, resolve_range
        from include.patternalarm.rules import load_catalog
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        kafka = BaseHook.get_connection("kafka_default").extra_dejson.get("bootstrap.servers")
        db = BaseHook.get_connection(IncidentStoreHook.default_conn_name)
        reference = pendulum.instance(dag_run.run_after) if dag_run and dag_run.run_after else pendulum.now("UTC")
        hook = IncidentStoreHook()
        try:  # the rule versions and parameters the detection jobs ran with (their alert ids carry the versions)
            rng = resolve_range(params.get("start"), params.get("end"), reference=reference,
                                settle=pendulum.duration(minutes=params.get("settle_minutes") or 0))
            history = deployed_parameters(hook.deployments(), list(params.get("domains") or []), rng.start, rng.end)
        except (RangeError, TypeError):
            history = {}  # plan_reconciliation explains what is wrong with the params
        live = {d: dominant(segments) for d, segments in history.items() if segments}
        for domain, segments in history.items():
            if len(segments) > 1:
                logging.getLogger(__name__).warning(
                    "%s: %d deployments in the range (parameters %s); re-detecting with those live longest: %s",
                    domain, len(segments), [(str(s["from"]), s["overrides"]) for s in segments], live[domain])
        deployed = {d: s["catalog_version"] for d, s in live.items() if s["catalog_version"]}
        try:
            cfg = plan_reconciliation(params, reference=reference, bootstrap=kafka or "", load_catalog=load_catalog,
                                      jdbc=jdbc_url(db.host, db.port, db.schema), jdbc_user=db.login or "",
                                      deployed_versions=deployed,
                                      deployed_overrides={d: s["overrides"] for d, s in live.items()})
        except PlanError as exc:
            raise AirflowFailException(f"invalid params: {exc}") from None
        open_reconciliation(hook, cfg, dag_run_id=dag_run.run_id if dag_run else None, label=params.get("label"))
        logging.getLogger(__name__).info(
            "reconciliation %s: range %s, domains %s, catalog versions deployed %s, overrides %s, rules %s, "
            "read from %s",
            cfg.run_id, cfg.range, ", ".join(cfg.domains), deployed or "unknown (newest catalog)",
            {d: s["overrides"] for d, s in live.items()} or "none",
            ", ".join(f"{r.rule_id} v{r.version}" for r in cfg.rules) or "none",
            {d: str(cfg.read_range(d).start) for d in cfg.domains})
        return {"run_id": cfg.run_id, "config": cfg.to_json(), "topics": dict(cfg.topics),
                "domains": list(cfg.domains)}

    planned = plan()

    reconcile = PatternalarmSparkSubmitOperator(
        task_id="reconcile",
        job="reconcile_detection",
        application_args=["--config", "{{ ti.xcom_pull(task_ids='plan')['config'] }}"],
        pool="spark",
        driver_memory="3g",
        conf={"spark.sql.shuffle.partitions": "8", "spark.driver.maxResultSize": "1g"},
        execution_timeout=pendulum.duration(hours=2),
        outlets=[RECONCILIATION_RUNS],
    )

    @task(trigger_rule="all_done", retries=0)
    def evaluate(planned: dict | None) -> dict:
        """Log the verdict; a failing one opens a platform incident per domain and fails the run."""
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from include.patternalarm.batch.plan import incident_entity
        from include.patternalarm.batch.reconcile import incident_for, summary_text
        from include.patternalarm.batch.runs import mark_error, reconciliation_result, record_incident
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        if not planned:  # the plan task failed (bad params): it said why; there is nothing to evaluate
            raise AirflowFailException("no run was planned: see the plan task's log")
        log = logging.getLogger(__name__)
        hook = IncidentStoreHook()
        run_id = planned["run_id"]
        found = reconciliation_result(hook, run_id)
        if found is None or found[0] == "running" or found[1] is None:
            mark_error(hook, run_id, "the Spark job did not record a result (see the reconcile task's log)")
            raise AirflowFailException(f"reconciliation {run_id}: the Spark job did not finish; no verdict")
        status, summary, _ = found
        log.info("reconciliation %s\n%s", run_id, summary_text(summary))
        if status == "passed":
            return {"run_id": run_id, "status": status}
        failing = [d for d, s in summary["domains"].items()
                   if s["outcomes"]["missed"] or s["outcomes"]["spurious"]
                   or s["minutes"]["missing"] or s["minutes"]["no_metrics"]]
        for domain in failing:
            check, _, severity, text, details = incident_for(summary, domain, run_id)
            entity = incident_entity(domain, planned["topics"])
            incident_id = hook.open_platform_incident(check, entity, severity, text, details)
            record_incident(hook, run_id, incident_id)
            log.warning("opened platform incident %s: %s", incident_id, text)
        raise AirflowFailException(
            f"reconciliation {run_id} failed: {summary['missed']} missed, {summary['spurious']} spurious alert(s), "
            f"{summary['incomplete_minutes']} incomplete minute(s) in {', '.join(failing)}")

    result = evaluate(planned)
    planned >> reconcile >> result


reconcile_detection()
