"""``platform`` incidents from outside Airflow (the chaos command line), through the same SECURITY DEFINER
functions the control plane's DAGs call (``open_platform_incident`` / ``resolve_platform_incident``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb


class PlatformIncidents:
    """``PlatformIncidents(settings.db_conninfo("control"))``."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = make_conninfo(conninfo, connect_timeout=10, options="-c statement_timeout=30000")

    def open(self, check: str, entity: str, severity: str, summary: str, details: Mapping[str, Any]) -> int | None:
        """Open (or update) the incident of ``check`` on ``entity``; its id (None when a silence matched)."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return conn.execute("select open_platform_incident(%s, %s, %s, %s, %s)",
                                (check, entity, severity, summary, Jsonb(dict(details)))).fetchone()[0]

    def resolve(self, check: str, entity: str, note: str) -> int | None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return conn.execute("select resolve_platform_incident(%s, %s, %s)", (check, entity, note)).fetchone()[0]
