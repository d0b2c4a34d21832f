"""``chaos_runs`` (migration 0053) as the control-plane role."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

#: chaos_runs columns an experiment's result fills in (besides status, result and failures).
FIGURES = ("sim_run_id", "fault_at", "fault_ended_at", "recovered_at", "recovery_s", "monitor_detected_s",
           "expected", "detected", "lost", "duplicated", "incidents_duplicated", "dead_lettered", "late",
           "latency_p99_before_s", "latency_p99_during_s", "latency_p99_after_s")


def _json(value: Any) -> Jsonb:
    return Jsonb(json.loads(json.dumps(value, default=str)))


class ChaosStore:
    def __init__(self, settings: Settings) -> None:
        self.conninfo = make_conninfo(settings.db_conninfo("control"), connect_timeout=10)

    def _run(self, sql: str, params: tuple) -> list[dict[str, Any]]:
        with psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def open(self, batch_id: str, experiment: str, requested_by: str, params: Mapping[str, Any]) -> int:
        return int(self._run("insert into chaos_runs (batch_id, experiment, status, requested_by, params)"
                             " values (%s, %s, 'running', %s, %s) returning id",
                             (batch_id, experiment, requested_by, _json(dict(params))))[0]["id"])

    def note(self, run_id: int, **result: Any) -> None:
        """Merge ``result`` into the row's ``result`` (e.g. ``stop_traffic_at``) while it runs."""
        self._run("update chaos_runs set result = result || %s where id = %s", (_json(result), run_id))

    def result(self, run_id: int) -> dict[str, Any]:
        rows = self._run("select result from chaos_runs where id = %s", (run_id,))
        return dict(rows[0]["result"]) if rows else {}

    def finish(self, run_id: int, status: str, figures: Mapping[str, Any], failures: list[str],
               result: Mapping[str, Any]) -> None:
        columns = [c for c in FIGURES if c in figures]
        sets = ", ".join(f"{c} = %s" for c in columns)
        self._run(f"update chaos_runs set status = %s, finished_at = now(), failures = %s, result = result || %s"  # noqa: S608
                  f"{', ' + sets if sets else ''} where id = %s",
                  (status, failures, _json(dict(result)), *[figures[c] for c in columns], run_id))

    def batch(self, batch_id: str) -> list[dict[str, Any]]:
        return self._run("select * from chaos_runs where batch_id = %s order by id", (batch_id,))

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._run("select id, batch_id, experiment, status, requested_by, started_at, finished_at, recovery_s,"
                         " lost, duplicated, incidents_duplicated, latency_p99_before_s, latency_p99_during_s,"
                         " latency_p99_after_s, failures from chaos_runs order by id desc limit %s", (limit,))
