"""
### rescore_incidents

Gives every open incident a **priority** (0–100) with its top **reasons**, from more history than a
stream window holds, so that analysts' `incidents list` puts the riskiest first. A Spark job
(SparkSubmitOperator, `include/spark/rescore_incidents.py`) computes per incident:

- the entity's other alerts over `history_days` and how many rules raised them;
- the entity's earlier incidents by disposition — *confirmed fraud raises, false positives lower* —
  and the rule's own record;
- payments: the money the entity moved in the hour up to the incident's last event against its
  hourly average over `spend_hours` (read from `events.payments` with Spark's Kafka source).

Scores and every feature are kept in `incident_scores`; the incidents get them through
`set_incident_priorities()` (a `priority_changed` timeline event per change). Points per factor:
`docs/batch.md`.

Params: `domains`, `since`/`until` (only open incidents last seen in that range; empty: all),
`history_days`, `spend_hours` (≤ the event topics' retention, 12 h), `topics` (advanced), `label`.
Scheduled daily at 02:30 UTC; trigger it from the UI for one domain or a time range.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from patternalarm_airflow.operators.spark import PatternalarmSparkSubmitOperator

DOMAINS = ["payments", "gaming", "iot"]
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(minutes=2),
                "execution_timeout": pendulum.duration(minutes=30)}
_TIME = {"type": ["null", "string"], "format": "date-time"}

PARAMS = {
    "domains": Param(DOMAINS, type="array", items={"type": "string", "enum": DOMAINS}, minItems=1, uniqueItems=True,
                     title="Domains", description="Rescore the open incidents of these domains."),
    "since": Param(None, **_TIME, title="Last seen from (UTC)",
                   description="Only incidents last seen at or after this time (empty: any)."),
    "until": Param(None, **_TIME, title="Last seen before (UTC)", description="…and before this time (empty: any)."),
    "history_days": Param(30, type="integer", minimum=1, maximum=3650,
                          description="Alert and disposition history to look at."),
    "spend_hours": Param(12, type="integer", minimum=2, maximum=720,
                         description="Payments history read from Kafka (the topic keeps 12 h)."),
    "topics": Param({}, type="object", additionalProperties={"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
                    propertyNames={"enum": ["payments"]},
                    description="Advanced: read payments events from another topic."),
    "label": Param("", type="string", maxLength=200, description="Free text stored with the run."),
}


@dag(
    dag_id="rescore_incidents",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["batch", "spark", "incidents"],
    doc_md=__doc__,
)
def rescore_incidents():
    @task
    def plan(params=None, dag_run=None) -> dict:
        """Resolve the params into the job's configuration and record the run as running."""
        import json
        import logging

        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowFailException

        from include.patternalarm.batch.plan import PlanError, jdbc_url
        from include.patternalarm.batch.rescore import plan_rescoring
        from include.patternalarm.rules import load_catalog
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        kafka = BaseHook.get_connection("kafka_default").extra_dejson.get("bootstrap.servers")
        db = BaseHook.get_connection(IncidentStoreHook.default_conn_name)
        reference = pendulum.instance(dag_run.run_after) if dag_run and dag_run.run_after else pendulum.now("UTC")
        try:
            cfg = plan_rescoring(params, reference=reference, bootstrap=kafka or "",
                                 jdbc=jdbc_url(db.host, db.port, db.schema), jdbc_user=db.login or "",
                                 job_values=load_catalog().job_values)
        except PlanError as exc:
            raise AirflowFailException(f"invalid params: {exc}") from None
        IncidentStoreHook().run(
            """INSERT INTO rescoring_runs (run_id, dag_run_id, label, domains, since, until, reference, history_days,
                                           spend_hours, config)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (run_id) DO NOTHING""",
            parameters=(cfg.run_id, dag_run.run_id if dag_run else None, params.get("label") or None,
                        list(cfg.domains), cfg.since, cfg.until, cfg.reference, cfg.history_days, cfg.spend_hours,
                        json.dumps(cfg.as_dict())),
            autocommit=True)
        logging.getLogger(__name__).info("rescoring %s: %s", cfg.run_id, cfg.to_json())
        return {"run_id": cfg.run_id, "config": cfg.to_json()}

    planned = plan()

    rescore = PatternalarmSparkSubmitOperator(
        task_id="rescore",
        job="rescore_incidents",
        application_args=["--config", "{{ ti.xcom_pull(task_ids='plan')['config'] }}"],
        pool="spark",
        driver_memory="3g",
        conf={"spark.sql.shuffle.partitions": "8"},
        execution_timeout=pendulum.duration(hours=2),
    )

    @task(trigger_rule="all_done", retries=0)
    def report(planned: dict | None) -> dict:
        """Log what the run changed; fail when the Spark job left no result."""
        import json
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        if not planned:  # the plan task failed (bad params): it said why; there is nothing to evaluate
            raise AirflowFailException("no run was planned: see the plan task's log")
        hook = IncidentStoreHook()
        row = hook.get_first("SELECT status, scored, changed, summary FROM rescoring_runs WHERE run_id = %s",
                             parameters=(planned["run_id"],))
        if row is None or row[0] != "done":
            hook.run("""UPDATE rescoring_runs SET status = 'error', finished_at = now(),
                               error = 'the Spark job did not record a result (see the rescore task log)'
                        WHERE run_id = %s AND status = 'running'""", parameters=(planned["run_id"],), autocommit=True)
            raise AirflowFailException(f"rescoring {planned['run_id']}: the Spark job did not finish")
        _, scored, changed, summary = row
        summary = json.loads(summary) if isinstance(summary, str) else summary
        log = logging.getLogger(__name__)
        log.info("rescoring %s: %s open incident(s) scored, %s changed; priorities %s", planned["run_id"], scored,
                 changed, summary.get("priority_buckets"))
        for top in summary.get("top", []):
            log.info("  %3s incident %s %s %s: %s", top["priority"], top["incident_id"], top["rule_id"],
                     top["entity"], "; ".join(top["reasons"]))
        return {"run_id": planned["run_id"], "scored": scored, "changed": changed}

    result = report(planned)
    planned >> rescore >> result


rescore_incidents()
