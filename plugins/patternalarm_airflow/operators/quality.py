"""Data quality of the incident tables: validate with Great Expectations, then gate on the result.

``IncidentTablesValidateOperator`` runs the suites of ``include/gx`` (via ``include.patternalarm.quality``)
on a scoped slice of the incident store, stores every expectation's result in ``dq_results``, writes
the HTML report (Data Docs + a run page) under ``settings.reports_dir`` and returns a summary.
It fails only when the validation cannot run (database unreachable…), so retries apply.

``DataQualityGateOperator`` turns that summary into the run's verdict: when an expectation failed
it opens (or updates) the ``platform`` incident ``data_quality`` / <schema> through the control
role's ``open_platform_incident`` and fails with the offending rows in its log; when all passed it
resolves that incident.

We do not use ``airflow-provider-great-expectations``: 1.0.0 pins structlog < 25.5 while Airflow
3.3.2 needs >= 26.1 (it only installs with ``--no-deps``, leaving ``pip check`` broken), and its
operators would still need this wrapping (scoped batches per run, dq_results, the incident gate).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from patternalarm_airflow.hooks.incidents import IncidentStoreHook

#: the platform incident a failed validation opens: (check, entity = the validated schema)
INCIDENT_CHECK = "data_quality"


class IncidentTablesValidateOperator(BaseOperator):
    """Validate alerts, incidents, incident_events and scaling_events; store and render the results.

    :param schema: schema holding the tables (``public``; a sandbox copy for tests)
    :param lookback_hours: validate rows of the last N hours (alerts by ``persisted_at``, …)
    :param full_scan: validate every row instead (ignores ``lookback_hours``)
    :param thresholds: overrides of ``include.gx.parameters.Thresholds`` fields
    :param rule_ids: only alerts / incidents of these rules (empty: all)
    :param traffic_window_minutes: events newer than this on the event topics mean "traffic flows"
    :param reports_dir: where the report goes (default ``settings.reports_dir``)
    :param keep_reports: how many runs' reports to keep
    """

    template_fields: Sequence[str] = (
        "schema", "lookback_hours", "full_scan", "thresholds", "rule_ids", "traffic_window_minutes", "reports_dir",
    )
    ui_color = "#e8f1fb"

    def __init__(self, *, schema: str = "public", lookback_hours: int | str = 2, full_scan: bool | str = False,
                 thresholds: dict[str, Any] | str | None = None, rule_ids: list[str] | str | None = None,
                 traffic_window_minutes: float | str = 5, reports_dir: str | None = None, keep_reports: int = 500,
                 postgres_conn_id: str = "postgres_incidents", kafka_config_id: str = "kafka_default",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema
        self.lookback_hours = lookback_hours
        self.full_scan = full_scan
        self.thresholds = thresholds or {}
        self.rule_ids = rule_ids or []
        self.traffic_window_minutes = traffic_window_minutes
        self.reports_dir = reports_dir
        self.keep_reports = keep_reports
        self.postgres_conn_id = postgres_conn_id
        self.kafka_config_id = kafka_config_id

    @staticmethod
    def conninfo(conn: Any) -> str:
        """A libpq connection string from an Airflow connection (extras become libpq options)."""
        from psycopg.conninfo import make_conninfo

        options = {k: v for k, v in (conn.extra_dejson or {}).items()
                   if k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")}
        options.setdefault("connect_timeout", 10)
        return make_conninfo(host=conn.host, port=conn.port or 5432, dbname=conn.schema, user=conn.login,
                             password=conn.password, **options)

    def _traffic(self, now: datetime, window: timedelta) -> Any:
        from airflow.sdk import BaseHook

        from include.gx.parameters import Traffic
        from include.patternalarm.quality.traffic import traffic_from_kafka

        try:
            config = dict(BaseHook.get_connection(self.kafka_config_id).extra_dejson)
            traffic = traffic_from_kafka(config, window=window, now=now)
        except Exception as exc:  # noqa: BLE001 - Kafka down: freshness cannot be judged, the rest still can
            self.log.warning("cannot read the event topics (%s): freshness expectations are skipped", exc)
            return Traffic(checked_at=now, newest_event_at=None, window=window, source=f"kafka unreachable: {exc}")
        self.log.info("traffic: newest event %s, flowing=%s", traffic.newest_event_at, traffic.flowing)
        return traffic

    def execute(self, context: Context) -> dict[str, Any]:
        import psycopg
        from airflow.sdk import BaseHook

        from include.gx.parameters import Scope, Thresholds
        from include.patternalarm.quality.report import site_dir, write_report
        from include.patternalarm.quality.results import store_run
        from include.patternalarm.quality.runner import run_suites
        from include.patternalarm.settings import get_settings

        now = datetime.now(UTC)
        full_scan = self.full_scan in (True, "True", "true")
        if full_scan:
            scope = Scope(schema=self.schema, until=now, rule_ids=tuple(self.rule_ids))
        else:
            window = timedelta(hours=float(self.lookback_hours))
            scope = Scope(schema=self.schema, since=now - window, until=now, rule_ids=tuple(self.rule_ids))
        thresholds = Thresholds.from_mapping(dict(self.thresholds))
        traffic = self._traffic(now, timedelta(minutes=float(self.traffic_window_minutes)))
        conninfo = self.conninfo(BaseHook.get_connection(self.postgres_conn_id))
        reports = get_settings().reports_dir if not self.reports_dir else self.reports_dir
        dag_id = context["dag"].dag_id
        dag_run_id = context["run_id"]
        self.log.info("validating %s", scope.as_dict())
        run = run_suites(conninfo, scope, thresholds, traffic, site_dir=site_dir(reports))
        lost = [r.check_id for r in run.results if r.status == "error" and "OperationalError" in
                str(r.detail.get("exception", ""))]
        if lost:  # the database went away mid-run: retry instead of reporting the data as broken
            raise RuntimeError(f"lost the database connection during {', '.join(lost)}; the task will retry")
        page = write_report(run, reports, dag_id=dag_id, dag_run_id=dag_run_id, sample_rows=thresholds.sample_rows,
                            keep=self.keep_reports)
        with psycopg.connect(conninfo) as conn:
            store_run(conn, run, dag_id=dag_id, dag_run_id=dag_run_id)
        self.log.info("stored %d results as dq_runs.run_id = %s", len(run.results), run.run_id)
        self.log.info("report: %s (also in the Airflow UI: Browse → Data quality)", page)
        for suite, seconds in run.suite_seconds.items():
            self.log.info("suite %s took %.1f s", suite, seconds)
        self.log.info("%s", run.failure_report())
        summary = run.summary()
        summary["failure_report"] = run.failure_report()
        summary["failures"] = [
            {"check_id": r.check_id, "status": r.status, "description": r.description,
             "unexpected_count": r.unexpected_count, "sample": r.sample[:5]}
            for r in run.broken
        ]
        return summary


class DataQualityGateOperator(BaseOperator):
    """Fail the run when the validation found broken rows, and open a platform incident for it.

    :param summary: the validate task's return value (``XComArg``)
    :param entity: the incident's entity (default: the validated schema)
    :param severity: the platform incident's severity
    """

    template_fields: Sequence[str] = ("summary", "entity")
    ui_color = "#fdecea"

    def __init__(self, *, summary: Any, entity: str | None = None, severity: str = "high",
                 postgres_conn_id: str = "postgres_incidents", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.summary = summary
        self.entity = entity
        self.severity = severity
        self.postgres_conn_id = postgres_conn_id
        self._hook: IncidentStoreHook | None = None

    @property
    def hook(self) -> IncidentStoreHook:
        if self._hook is None:
            from patternalarm_airflow.hooks.incidents import IncidentStoreHook

            self._hook = IncidentStoreHook(postgres_conn_id=self.postgres_conn_id)
        return self._hook

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        summary = dict(self.summary or {})
        if "success" not in summary:
            raise ValueError("summary must be the validate task's result (it has no 'success' key)")
        entity = self.entity or (summary.get("scope") or {}).get("schema") or "public"
        if summary["success"]:
            resolved = self.hook.resolve_platform_incident(
                INCIDENT_CHECK, entity, f"data quality run {summary['run_id']}: every expectation passed")
            if resolved:
                self.log.info("resolved platform incident %s (%s / %s)", resolved, INCIDENT_CHECK, entity)
            self.log.info("%s", summary.get("failure_report", "all expectations passed"))
            return {"success": True, "incident_id": resolved}
        failed = summary.get("failures") or []
        title = (f"{len(failed)} data-quality expectation(s) failed on {entity}: "
                 + ", ".join(f["check_id"] for f in failed[:6]) + ("…" if len(failed) > 6 else ""))
        details = {
            "run_id": summary.get("run_id"), "dag_run_id": context["run_id"], "report": summary.get("report_path"),
            "scope": summary.get("scope"), "failures": failed,
        }
        incident_id = self.hook.open_platform_incident(INCIDENT_CHECK, entity, self.severity, title, details)
        message = summary.get("failure_report") or title
        if incident_id is None:
            message += f"\n(platform incident {INCIDENT_CHECK}/{entity} not opened: a silence matches it)"
        else:
            message += f"\nplatform incident {incident_id} ({INCIDENT_CHECK} / {entity}) is open"
        self.log.error("%s", message)
        raise AirflowFailException(message)
