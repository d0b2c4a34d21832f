"""The batches the suites validate: one SELECT per table, scoped by a ``Scope``.

Each query becomes a GX query asset; ``{batch}`` in the suites' SQL expectations is this query
as a subquery. GX takes SQL as text (no bind parameters for query assets or SQL expectations),
so every query is composed with ``psycopg.sql``: table names are ``sql.Identifier``s, values
(times, ids, numbers) ``sql.Literal``s quoted by psycopg, and only then rendered to text.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from include.gx.parameters import Scope


def render(template: str, **parts: Any) -> str:
    """``template`` (a ``psycopg.sql.SQL`` format string) with composable ``parts``, as text.

    Plain Python values are wrapped in ``sql.Literal``; write ``{{batch}}`` for GX's placeholder.
    """
    composed = {k: v if isinstance(v, sql.Composable) else sql.Literal(v) for k, v in parts.items()}
    return sql.SQL(template).format(**composed).as_string(None)


def _in(column: str, values: tuple[str, ...]) -> sql.Composable:
    return sql.SQL("{} IN ({})").format(sql.SQL(column), sql.SQL(", ").join(map(sql.Literal, values)))


def _like(column: str, pattern: str) -> sql.Composable:
    return sql.SQL("{} LIKE {}").format(sql.SQL(column), sql.Literal(pattern))


def _window(column: str, scope: Scope) -> list[sql.Composable]:
    where: list[sql.Composable] = []
    if scope.since is not None:
        where.append(sql.SQL("{} >= {}").format(sql.SQL(column), sql.Literal(scope.since)))
    if scope.until is not None:
        where.append(sql.SQL("{} < {}").format(sql.SQL(column), sql.Literal(scope.until)))
    return where


def _where(conditions: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")


#: The moment an alert's pattern completed. Pattern rules complete at their last matched event; an
#: absence rule (missing_heartbeat, evidence ``silence_s``) completes when the silence has lasted
#: ``silence_s`` after the last event (docs/rules.md).
COMPLETING_EVENT_TIME = sql.SQL(
    "CASE WHEN jsonb_typeof(a.evidence -> 'silence_s') = 'number' "
    "THEN a.last_event_time + make_interval(secs => (a.evidence ->> 'silence_s')::double precision) "
    "ELSE a.last_event_time END"
)


def alerts(scope: Scope) -> str:
    """Alerts persisted in the window, with ``completing_event_time`` and ``latency_s``.

    ``latency_s`` (``persisted_at`` − completing event time) is only set for alerts whose pattern
    completed inside the window too: a replay of old events persisted now is not "late".
    """
    conditions = _window("a.persisted_at", scope)
    if scope.rule_ids:
        conditions.append(_in("a.rule_id", scope.rule_ids))
    if scope.entity_like:
        conditions.append(_like("a.entity", scope.entity_like))
    latency: sql.Composable = sql.SQL("EXTRACT(EPOCH FROM a.persisted_at - c.completing_event_time)")
    if scope.since is not None:
        latency = sql.SQL("CASE WHEN c.completing_event_time >= {} THEN {} END").format(
            sql.Literal(scope.since), latency)
    return render("SELECT a.*, c.completing_event_time, {latency} AS latency_s FROM {alerts} a "
                  "CROSS JOIN LATERAL (SELECT {completing} AS completing_event_time) c WHERE {where}",
                  latency=latency, alerts=scope.tables.alerts, completing=COMPLETING_EVENT_TIME,
                  where=_where(conditions))


def incidents(scope: Scope) -> str:
    """Incidents with a timeline event in the window (every change of an incident is an event)."""
    t = scope.tables
    conditions: list[sql.Composable] = []
    if scope.rule_ids:
        conditions.append(_in("i.rule_id", scope.rule_ids))
    if scope.entity_like:
        conditions.append(_like("i.entity", scope.entity_like))
    window = _window("e.happened_at", scope)
    if window:
        conditions.append(sql.SQL("EXISTS (SELECT 1 FROM {} e WHERE e.incident_id = i.incident_id AND {})").format(
            t.incident_events, _where(window)))
    return render("SELECT i.* FROM {incidents} i WHERE {where}", incidents=t.incidents, where=_where(conditions))


def incident_events(scope: Scope) -> str:
    """Timeline events that happened in the window."""
    t = scope.tables
    conditions = _window("e.happened_at", scope)
    narrow = []
    if scope.rule_ids:
        narrow.append(_in("rule_id", scope.rule_ids))
    if scope.entity_like:
        narrow.append(_like("entity", scope.entity_like))
    if narrow:
        conditions.append(sql.SQL("e.incident_id IN (SELECT incident_id FROM {} WHERE {})").format(
            t.incidents, _where(narrow)))
    return render("SELECT e.* FROM {incident_events} e WHERE {where}", incident_events=t.incident_events,
                  where=_where(conditions))


def scaling_events(scope: Scope) -> str:
    """Scaling decisions made in the window."""
    conditions = _window("s.decided_at", scope)
    if scope.scaling_job_ids:
        conditions.append(_in("s.job_id", scope.scaling_job_ids))
    return render("SELECT s.* FROM {scaling_events} s WHERE {where}", scaling_events=scope.tables.scaling_events,
                  where=_where(conditions))


QUERIES = {
    "alerts": alerts,
    "incidents": incidents,
    "incident_events": incident_events,
    "scaling_events": scaling_events,
}
