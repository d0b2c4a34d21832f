"""The batch runs' rows in PostgreSQL, as the control role sees them (SQL with bound parameters).

Functions take any DB-API style runner with ``run(sql, parameters=...)`` and
``get_first(sql, parameters=...)`` — the Airflow ``IncidentStoreHook`` in the DAGs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from include.patternalarm.batch.reconcile import ReconcileConfig


class Runner(Protocol):
    def run(self, sql: str, autocommit: bool = ..., parameters: Any = ...) -> Any: ...

    def get_first(self, sql: str, parameters: Any = ...) -> Any: ...


def parameter_segments(history: list[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The deployments live during [start, end) as segments (from, to, catalog version, overrides, job), from
    ``DeploymentStore.history`` (oldest first: the one live at ``start``, then each that replaced it)."""
    segments: list[dict[str, Any]] = []
    for i, record in enumerate(history):
        begin = max(record.requested_at, start)
        until = min(history[i + 1].requested_at, end) if i + 1 < len(history) else end
        if until > begin:
            segments.append({"from": begin, "to": until, "catalog_version": record.version,
                             "overrides": dict(record.overrides), "job_id": record.job_id, "action": record.action})
    return segments


def deployed_parameters(store: Any, domains: list[str], start: datetime, end: datetime
                        ) -> dict[str, list[dict[str, Any]]]:
    """Per domain, the parameters its detection job ran with over [start, end): the segments of
    ``parameter_segments`` (a range with a redeploy in it has several). ``store``: a ``DeploymentStore``."""
    return {d: parameter_segments(store.history(d, start, end), start, end) for d in domains}


def dominant(segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The segment that covers most of the range (what a single re-detection uses)."""
    return max(segments, key=lambda s: s["to"] - s["from"]) if segments else None


def open_reconciliation(db: Runner, cfg: ReconcileConfig, *, dag_run_id: str | None, label: str | None) -> None:
    """Record the run as ``running`` with what it is going to check (idempotent for a retried task)."""
    read_start = min((cfg.read_range(d).start for d in cfg.domains), default=cfg.range.start)
    db.run(
        """INSERT INTO reconciliation_runs (run_id, dag_run_id, label, range_start, range_end, read_start, domains,
                                            rules, config, status)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, 'running')
           ON CONFLICT (run_id) DO NOTHING""",
        parameters=(cfg.run_id, dag_run_id, label or None, cfg.range.start, cfg.range.end, read_start,
                    list(cfg.domains), json.dumps([r.as_dict() for r in cfg.rules]), cfg.to_json()),
        autocommit=True,
    )


def reconciliation_result(db: Runner, run_id: str) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """(status, summary, error) of a run, or None when it was never recorded."""
    row = db.get_first("SELECT status, summary, error FROM reconciliation_runs WHERE run_id = %s",
                       parameters=(run_id,))
    if row is None:
        return None
    status, summary, error = row
    if isinstance(summary, str):
        summary = json.loads(summary)
    return status, summary, error


def mark_error(db: Runner, run_id: str, error: str) -> None:
    db.run("""UPDATE reconciliation_runs SET status = 'error', error = %s, finished_at = now()
              WHERE run_id = %s AND status = 'running'""", parameters=(error[:2000], run_id), autocommit=True)


def record_incident(db: Runner, run_id: str, incident_id: int | None) -> None:
    """Remember the platform incident a failing run opened (one per failing domain)."""
    if incident_id is None:  # a silence matched: nothing was opened
        return
    db.run("""UPDATE reconciliation_runs SET incident_ids = array_append(incident_ids, %s)
              WHERE run_id = %s AND NOT %s = ANY (incident_ids)""",
           parameters=(incident_id, run_id, incident_id), autocommit=True)
