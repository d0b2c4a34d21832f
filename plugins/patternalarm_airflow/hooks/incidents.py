"""The incident store (PostgreSQL) as the control-plane role, through the postgres provider."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

if TYPE_CHECKING:
    from include.patternalarm.control.deployments import DeploymentStore
    from include.patternalarm.control.shadow import ShadowStore


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
    def conninfo(self) -> str:
        """A libpq conninfo for this connection (for code that talks to psycopg directly)."""
        from psycopg.conninfo import make_conninfo

        conn = self.get_connection(self.postgres_conn_id)
        return make_conninfo(host=conn.host, port=conn.port or 5432, dbname=conn.schema, user=conn.login,
                             password=conn.password or "", application_name="patternalarm-airflow")

    def deployments(self) -> DeploymentStore:
        """The deployment record and lock (``include.patternalarm.control.deployments``) on this connection."""
        from include.patternalarm.control.deployments import DeploymentStore

        return DeploymentStore(self.conninfo())

    def shadows(self) -> ShadowStore:
        """The shadow deployments (``include.patternalarm.control.shadow``) on this connection."""
        from include.patternalarm.control.shadow import ShadowStore

        return ShadowStore(self.conninfo())

    def desired_deployment(self, domain: str) -> dict[str, Any] | None:
        """The latest healthy deployment of ``domain`` (what the monitor heals towards), as a dict."""
        found = self.deployments().desired(domain)
        return found.as_dict() if found else None

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
