"""The incident store (PostgreSQL) as the control-plane role, through the postgres provider."""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook


class IncidentStoreHook(PostgresHook):
    """``postgres_incidents``: scaling decisions, platform incidents, batch and quality results."""

    conn_name_attr = "postgres_conn_id"
    default_conn_name = "postgres_incidents"
    hook_name = "patternalarm incident store"

    def __init__(self, *args: Any, postgres_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(*args, postgres_conn_id=postgres_conn_id, **kwargs)

    def open_platform_incident(self, check: str, entity: str, severity: str, summary: str,
                               details: dict[str, Any]) -> Any:
        """Open (or update) the platform incident of ``check`` on ``entity``; idempotent."""
        return self.get_first(
            "select open_platform_incident(%s, %s, %s, %s, %s::jsonb)",
            parameters=(check, entity, severity, summary, json.dumps(details, default=str)),
        )[0]

    def resolve_platform_incident(self, check: str, entity: str, note: str) -> Any:
        """Resolve the open platform incident of ``check`` on ``entity`` if there is one; idempotent."""
        return self.get_first(
            "select resolve_platform_incident(%s, %s, %s)", parameters=(check, entity, note)
        )[0]

    # --- control-plane records -------------------------------------------------------------------
    def record_deployment(self, *, domain: str, catalog_version: int | str, parallelism: int, action: str,
                          status: str, requested_by: str, job_id: str | None = None,
                          restored_from: str | None = None, stop_savepoint: str | None = None,
                          detail: dict[str, Any] | None = None) -> int:
        """Append to detection_deployments; returns the row id."""
        return self.get_first(
            "insert into detection_deployments (domain, catalog_version, parallelism, action, status, requested_by,"
            " job_id, restored_from, stop_savepoint, detail, healthy_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb,"
            "         case when %s = 'healthy' then now() end) returning id",
            parameters=(domain, str(catalog_version), parallelism, action, status, requested_by, job_id,
                        restored_from, stop_savepoint, json.dumps(detail or {}, default=str), status),
        )[0]

    def set_deployment_status(self, deployment_id: int, status: str, detail: dict[str, Any] | None = None) -> None:
        self.run(
            "update detection_deployments set status = %s,"
            " healthy_at = case when %s = 'healthy' then now() else healthy_at end,"
            " detail = detail || %s::jsonb where id = %s",
            parameters=(status, status, json.dumps(detail or {}, default=str), deployment_id),
        )

    def desired_deployment(self, domain: str) -> dict[str, Any] | None:
        """The latest healthy deployment of ``domain``: the version and parallelism to heal towards."""
        row = self.get_first(
            "select catalog_version, parallelism, job_id, requested_at from detection_deployments"
            " where domain = %s and status = 'healthy' order by requested_at desc, id desc limit 1",
            parameters=(domain,),
        )
        if not row:
            return None
        return {"catalog_version": row[0], "parallelism": row[1], "job_id": row[2], "since": str(row[3])}

    def latest_deployment(self, domain: str) -> dict[str, Any] | None:
        """The newest record of ``domain`` whatever its status (a ``stop`` means stopped on purpose)."""
        row = self.get_first(
            "select action, status, job_id, requested_at from detection_deployments"
            " where domain = %s order by requested_at desc, id desc limit 1",
            parameters=(domain,),
        )
        return {"action": row[0], "status": row[1], "job_id": row[2], "since": str(row[3])} if row else None

    def record_scaling_event(self, *, domain: str, job_id: str | None, action: str, from_parallelism: int,
                             to_parallelism: int, reason: str, inputs: dict[str, Any], dag_run_id: str) -> int:
        return self.get_first(
            "insert into scaling_events (domain, job_id, action, from_parallelism, to_parallelism, reason, inputs,"
            " dag_run_id) values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) returning id",
            parameters=(domain, job_id, action, from_parallelism, to_parallelism, reason,
                        json.dumps(inputs, default=str), dag_run_id),
        )[0]

    def finish_scaling_event(self, event_id: int, outcome: str, *, rescaled_at: float | None = None,
                             drained_at: float | None = None) -> None:
        """Close a decision: when (epoch seconds) the job ran at its new parallelism and the lag drained."""
        self.run(
            "update scaling_events set outcome = %s,"
            " rescaled_at = coalesce(to_timestamp(%s::float8), rescaled_at),"
            " drained_at = coalesce(to_timestamp(%s::float8), drained_at) where id = %s",
            parameters=(outcome, rescaled_at, drained_at, event_id),
        )

    def seconds_since_last_scaling(self, domain: str) -> float | None:
        """Seconds since the domain's last scale_up/scale_down decision; None if it never scaled."""
        row = self.get_first(
            "select extract(epoch from now() - max(decided_at)) from scaling_events"
            " where domain = %s and action <> 'hold'", parameters=(domain,))
        return float(row[0]) if row and row[0] is not None else None
