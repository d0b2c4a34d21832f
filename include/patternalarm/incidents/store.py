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

from include.patternalarm.alerts import DISPOSITIONS, INCIDENT_DOMAINS, STATUSES
from include.patternalarm.settings import Settings

Row = dict[str, Any]

LIST_COLUMNS = (
    "incident_id", "status", "priority", "severity", "domain", "rule_id", "entity", "alert_count", "first_seen",
    "last_seen", "assignee", "disposition", "reopen_count", "summary", "priority_reasons",
)


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
    def _connect(self) -> Iterator[psycopg.Connection[Row]]:
        try:
            conn = psycopg.connect(self._conninfo, row_factory=dict_row, autocommit=True)
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
        if status is not None and status not in (*STATUSES, "active"):
            raise IncidentError(f"unknown status {status!r}: use one of {', '.join((*STATUSES, 'active'))}")
        if domain is not None and domain not in INCIDENT_DOMAINS:
            raise IncidentError(f"unknown domain {domain!r}: use one of {', '.join(INCIDENT_DOMAINS)}")
        if not 1 <= limit <= 10_000:
            raise IncidentError(f"limit must be between 1 and 10000, not {limit}")
        where = [sql.SQL("true")]
        params: list[Any] = []
        if status == "active":
            where.append(sql.SQL("status <> 'resolved'"))
        elif status:
            where.append(sql.SQL("status = %s"))
            params.append(status)
        for column, value in (("domain", domain), ("rule_id", rule), ("entity", entity)):
            if value:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if since is not None:
            where.append(sql.SQL("last_seen >= %s"))
            params.append(since)
        query = sql.SQL("SELECT {cols} FROM incidents WHERE {where} "
                        "ORDER BY priority DESC NULLS LAST, last_seen DESC, incident_id DESC LIMIT %s").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in LIST_COLUMNS),
            where=sql.SQL(" AND ").join(where),
        )
        params.append(limit)
        with self._connect() as conn:
            return conn.execute(query, params).fetchall()

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
