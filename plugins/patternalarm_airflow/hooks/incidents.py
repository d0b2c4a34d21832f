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
