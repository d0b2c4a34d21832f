"""The analysts' API to the incident store: read incidents, work them, silence alerts, set policies.

Connects as ``patternalarm_analyst``, which reads the tables and changes them only through the
database's SECURITY DEFINER functions; their refusals (an invalid transition, an unknown
disposition or id) come back as ``IncidentError`` with the database's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from include.patternalarm.alerts import DISPOSITIONS
from include.patternalarm.incidents.queue import Cursor, QueueError, QueueFilter, page_query
from include.patternalarm.settings import Settings

Row = dict[str, Any]


class IncidentError(RuntimeError):
    """A refused request: the message says why (and what to do, when there is a hint)."""


def _message(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    if diag.message_hint:
        text += f" ({diag.message_hint})"
    return text


class IncidentStore:
    """Short-lived connections, one per call; every refusal is an ``IncidentError``."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = make_conninfo(conninfo, connect_timeout=5)

    @classmethod
    def for_role(cls, settings: Settings, purpose: str = "analyst") -> IncidentStore:
        return cls(settings.db_conninfo(purpose))

    @contextmanager
    def _connect(self, isolation: psycopg.IsolationLevel | None = None) -> Iterator[psycopg.Connection[Row]]:
        """An autocommit connection; with ``isolation``, one for explicit transactions at that level."""
        try:
            conn = psycopg.connect(self._conninfo, row_factory=dict_row, autocommit=isolation is None)
            if isolation is not None:
                conn.isolation_level = isolation
        except psycopg.OperationalError as exc:
            raise IncidentError(f"cannot reach the incident database: {str(exc).strip().splitlines()[-1]}") from None
        try:
            yield conn
        except (psycopg.errors.RaiseException, psycopg.errors.NoDataFound,
                psycopg.errors.InvalidParameterValue) as exc:
            raise IncidentError(_message(exc)) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise IncidentError(f"not allowed: {_message(exc)}") from None
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction) as exc:
            raise IncidentError(f"the incident schema is missing or outdated ({_message(exc)}): run "
                                f"`bin/patternalarm stack up`, which applies the migrations") from None
        except psycopg.Error as exc:
            raise IncidentError(f"database error: {_message(exc)}") from None
        finally:
            conn.close()

    def _one(self, query: str | sql.Composed, params: tuple[Any, ...] | dict[str, Any]) -> Row:
        with self._connect() as conn:
            row = conn.execute(query, params).fetchone()
        assert row is not None
        return row

    # --- reading --------------------------------------------------------------------------------

    def list_incidents(self, *, status: str | None = None, domain: str | None = None, rule: str | None = None,
                       since: datetime | None = None, entity: str | None = None, limit: int = 50) -> list[Row]:
        """Incidents, highest priority first (no priority last), then the most recently seen."""
        flt = QueueFilter(status=status or "all", domain=domain, rule=rule, since=since, entity=entity)
        return self.queue_page(flt, limit=limit)[0]

    def queue_page(self, flt: QueueFilter, *, after: Cursor | None = None, before: Cursor | None = None,
                   limit: int = 50) -> tuple[list[Row], bool]:
        """One page of the queue in its order, and whether more rows lie beyond it (see ``queue.py``)."""
        with self._connect() as conn:
            return self._queue_page(conn, flt, after=after, before=before, limit=limit)

    @staticmethod
    def _queue_page(conn: psycopg.Connection[Row], flt: QueueFilter, *, after: Cursor | None = None,
                    before: Cursor | None = None, limit: int = 50) -> tuple[list[Row], bool]:
        try:
            query, params = page_query(flt, after=after, before=before, limit=limit)
        except QueueError as exc:
            raise IncidentError(str(exc)) from None
        rows = conn.execute(query, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return (rows[::-1] if before is not None else rows), more

    def get(self, incident_id: int, *, alerts_limit: int = 200) -> Row:
        """One incident with its timeline (``events``) and its alerts with their evidence (``alerts``)."""
        with self._connect() as conn:
            incident = conn.execute("SELECT * FROM incidents WHERE incident_id = %s", (incident_id,)).fetchone()
            if incident is None:
                raise IncidentError(f"incident {incident_id} does not exist")
            incident["events"] = conn.execute(
                "SELECT event_id, happened_at, kind, actor, db_role, from_status, to_status, alert_id, note, detail "
                "FROM incident_events WHERE incident_id = %s ORDER BY event_id", (incident_id,)).fetchall()
            incident["alerts"] = conn.execute(
                "SELECT alert_id, rule_id, rule_version, severity, first_event_time, last_event_time, detected_at, "
                "persisted_at, evidence, source_topic, source_partition, source_offset "
                "FROM alerts WHERE incident_id = %s ORDER BY first_event_time, alert_id LIMIT %s",
                (incident_id, alerts_limit)).fetchall()
        return incident

    # --- the lifecycle --------------------------------------------------------------------------

    def acknowledge(self, incident_id: int, actor: str, note: str | None = None,
                    assignee: str | None = None) -> Row:
        return self._one("SELECT * FROM acknowledge_incident(%s, %s, %s, %s)", (incident_id, actor, note, assignee))

    def assign(self, incident_id: int, assignee: str | None, actor: str) -> Row:
        return self._one("SELECT * FROM assign_incident(%s, %s, %s)", (incident_id, assignee, actor))

    def resolve(self, incident_id: int, disposition: str, actor: str, note: str | None = None) -> Row:
        if disposition not in DISPOSITIONS:
            raise IncidentError(f"unknown disposition {disposition!r}: use one of {', '.join(DISPOSITIONS)}")
        return self._one("SELECT * FROM resolve_incident(%s, %s, %s, %s)", (incident_id, disposition, actor, note))

    def reopen(self, incident_id: int, actor: str, note: str | None = None) -> Row:
        return self._one("SELECT * FROM reopen_incident(%s, %s, %s)", (incident_id, actor, note))

    # --- silences -------------------------------------------------------------------------------

    def create_silence(self, *, rule: str | None, entity_pattern: str | None, domain: str | None,
                       ends_at: datetime, comment: str, actor: str, starts_at: datetime | None = None) -> Row:
        return self._one("SELECT * FROM create_silence(%s, %s, %s, %s, %s, %s, %s)",
                         (rule, entity_pattern, domain, starts_at, ends_at, comment, actor))

    def start_maintenance(self, entities: list[str], *, rule: str | None, domain: str | None, ends_at: datetime,
                          comment: str, actor: str, starts_at: datetime | None = None) -> list[Row]:
        """A maintenance window (a silence of kind ``maintenance``) per entity (name or glob), all or none."""
        with self._connect() as conn:
            return conn.execute("SELECT * FROM start_maintenance(%s, %s, %s, %s, %s, %s, %s)",
                                (entities, rule, domain, starts_at, ends_at, comment, actor)).fetchall()

    def expire_silence(self, silence_id: int, actor: str) -> Row:
        return self._one("SELECT * FROM expire_silence(%s, %s)", (silence_id, actor))

    def list_silences(self, *, include_ended: bool = False, limit: int = 100) -> list[Row]:
        condition = "true" if include_ended else "expired_at IS NULL AND ends_at > now()"
        with self._connect() as conn:
            return conn.execute(
                sql.SQL("SELECT *, (expired_at IS NULL AND starts_at <= now() AND now() < ends_at) AS active "
                        "FROM silences WHERE {} ORDER BY silence_id DESC LIMIT %s").format(sql.SQL(condition)),
                (limit,)).fetchall()

    # --- grouping policies ----------------------------------------------------------------------

    def policies(self) -> list[Row]:
        with self._connect() as conn:
            return conn.execute("SELECT * FROM incident_policies ORDER BY rule_id = '*' DESC, rule_id").fetchall()

    def effective_policy(self, rule: str) -> Row:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM incident_policies WHERE rule_id IN (%s, '*') "
                               "ORDER BY rule_id = '*' LIMIT 1", (rule,)).fetchone()
        assert row is not None
        return row

    def set_policy(self, rule: str, *, grouping_window: timedelta, auto_resolve_after: timedelta | None,
                   reopen_window: timedelta, actor: str) -> Row:
        return self._one("SELECT * FROM set_incident_policy(%s, %s, %s, %s, %s)",
                         (rule, grouping_window, auto_resolve_after, reopen_window, actor))
