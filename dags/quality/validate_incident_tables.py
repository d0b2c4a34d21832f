"""
### validate_incident_tables

Great Expectations suites over the incident store — `alerts`, `incidents`, `incident_events`,
`scaling_events` (suites as code in `include/gx/`, the checks listed in `docs/quality.md`): keys
present and unique, statuses and dispositions from their sets, time order, every alert in an
incident unless silenced, incident counts matching their alerts, freshness while events flow, and
the share of alerts visible within 3 s of their completing event.

**When:** every hour, and after each batch reconciliation (the `reconcile_detection` DAG updates
the asset `reconciliation_runs`).

**Tasks:** `validate` runs the suites on the rows of the last `lookback_hours` (or all rows with
`full_scan`), stores every result in `dq_runs` / `dq_results` and writes the HTML report (Data Docs)
under the reports folder; `gate` fails the run when an expectation failed — its log names the rows
that broke each one — and opens the `platform` incident `data_quality` / *schema* (resolved again
by the next clean run).

**Report:** *Browse → Data quality* in this UI, the *Data quality* tab of a run, or the path the
`validate` log prints (`<data dir>/reports/quality/index.html`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag

from patternalarm_airflow.operators.quality import DataQualityGateOperator, IncidentTablesValidateOperator

#: updated by reconcile_detection when a reconciliation finished (docs/contracts.md)
RECONCILIATION_RUNS = Asset(name="reconciliation_runs", uri="patternalarm://incident-store/reconciliation_runs")

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(minutes=1),
                "execution_timeout": pendulum.duration(minutes=30)}


@dag(
    dag_id="validate_incident_tables",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
                                 assets=RECONCILIATION_RUNS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["quality", "great-expectations", "incidents"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "schema": Param("public", type="string", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                        description="Schema holding the incident tables (a lower-case identifier)."),
        "lookback_hours": Param(2, type="integer", minimum=1, maximum=720,
                                description="Validate the rows of the last N hours."),
        "full_scan": Param(False, type="boolean", description="Validate every row (ignores lookback_hours)."),
        "rule_ids": Param([], type="array", items={"type": "string", "minLength": 1, "maxLength": 200},
                          maxItems=1000, description="Only alerts and incidents of these rules (empty: all)."),
        "latency_target_s": Param(3.0, type="number", minimum=0.1, maximum=3600,
                                  description="An alert is on time when visible within this many seconds."),
        "latency_min_share": Param(0.95, type="number", minimum=0, maximum=1,
                                   description="Share of alerts that must be on time."),
        "clock_skew_s": Param(5.0, type="number", minimum=0, maximum=3600,
                              description="Clock disagreement tolerated before a timestamp is impossible."),
        "alerts_max_age_min": Param(15.0, type="number", minimum=0, maximum=10080,
                                    description="While events flow, the newest alert is at most this old "
                                                "(0: do not check)."),
        "scaling_max_age_min": Param(0.0, type="number", minimum=0, maximum=10080,
                                     description="While events flow, the newest scaling decision is at most "
                                                 "this old (0: do not check)."),
        "traffic_window_min": Param(5.0, type="number", minimum=0.1, maximum=1440,
                                    description="Events newer than this on the event topics mean traffic flows."),
        "sample_rows": Param(20, type="integer", minimum=1, maximum=200,
                             description="Offending rows reported per failed expectation."),
    },
)
def validate_incident_tables():
    validate = IncidentTablesValidateOperator(
        task_id="validate",
        schema="{{ params.schema }}",
        lookback_hours="{{ params.lookback_hours }}",
        full_scan="{{ params.full_scan }}",
        rule_ids="{{ params.rule_ids }}",
        traffic_window_minutes="{{ params.traffic_window_min }}",
        thresholds={
            "latency_target_s": "{{ params.latency_target_s }}",
            "latency_min_share": "{{ params.latency_min_share }}",
            "clock_skew_s": "{{ params.clock_skew_s }}",
            "alerts_max_age_min": "{{ params.alerts_max_age_min }}",
            "scaling_max_age_min": "{{ params.scaling_max_age_min }}",
            "sample_rows": "{{ params.sample_rows }}",
        },
    )
    DataQualityGateOperator(task_id="gate", summary=validate.output, entity="{{ params.schema }}")


validate_incident_tables()
