"""The expectation suites over the incident tables, as code (Great Expectations 1.x).

One suite per table — ``alerts``, ``incidents``, ``incident_events``, ``scaling_events`` — each
a list of ``Check``s: a stable ``check_id`` (``<suite>.<what>``, stored in ``dq_results``) and the
GX expectation that tests it. Built-in expectations where one says it (keys, sets, column order);
``ExpectQueryToReturnNoRows`` where the rule spans rows or tables (an alert without an incident,
counts that disagree, a stale table). Each SQL check selects the offending rows' keys first, so a
failure names them. ``docs/quality.md`` has the table of checks and what each one means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import great_expectations as gx
from psycopg import sql

from include.gx.assets import render
from include.gx.expectations import ExpectQueryToReturnNoRows
from include.gx.parameters import Tables, Thresholds, Traffic
from include.patternalarm.alerts import DISPOSITIONS, INCIDENT_DOMAINS, SEVERITIES, STATUSES
from include.patternalarm.topics import DOMAINS

#: timeline event kinds (include/sql/migrations/0020_incidents.sql)
EVENT_KINDS = (
    "opened", "alert_attached", "acknowledged", "assigned", "resolved", "reopened", "auto_resolved",
    "platform_update", "priority_changed",
)
#: scaling_events.action and .outcome (include/sql/migrations/0050_scaling_events.sql)
SCALING_ACTIONS = ("scale_up", "scale_down", "hold")
SCALING_OUTCOMES = ("rescaled", "failed", "drained", "not_needed")


@dataclass(frozen=True)
class Check:
    check_id: str
    suite: str
    expectation: Any  # a GX Expectation

    @property
    def description(self) -> str:
        return self.expectation.description or self.check_id


@dataclass(frozen=True)
class Skipped:
    """A check that was not run this time, and why (e.g. freshness while no traffic flows)."""

    check_id: str
    suite: str
    description: str
    reason: str


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    table: str
    key: str  # the column that names an offending row in map-expectation results
    build: Callable[[Tables, Thresholds, Traffic], tuple[list[Check], list[Skipped]]]


def _check(suite: str, name: str, expectation_cls: type, description: str, **kwargs: Any) -> Check:
    check_id = f"{suite}.{name}"
    return Check(check_id, suite, expectation_cls(description=description, meta={"check_id": check_id}, **kwargs))


def _sql(suite: str, name: str, description: str, template: str, **parts: Any) -> Check:
    """A check whose query returns the offending rows; ``{{batch}}`` is the scoped slice.

    GX substitutes ``{batch}`` differently when the query contains the word JOIN (then without
    an alias), so these queries join with commas and LATERAL and wrap the batch as
    ``(SELECT * FROM {batch}) x`` — the same SQL either way.
    """
    return _check(suite, name, ExpectQueryToReturnNoRows, description,
                  unexpected_rows_query=render(template, **parts))


def _key(suite: str, column: str) -> list[Check]:
    return [
        _check(suite, f"{column}_present", gx.expectations.ExpectColumnValuesToNotBeNull,
               f"{column} is present in every row", column=column),
        _check(suite, f"{column}_unique", gx.expectations.ExpectColumnValuesToBeUnique,
               f"no two rows share one {column}", column=column),
    ]


def _in_set(suite: str, column: str, values: tuple[str, ...], what: str) -> Check:
    return _check(suite, f"{column}_in_set", gx.expectations.ExpectColumnValuesToBeInSet,
                  f"{what} is one of {', '.join(values)}", column=column, value_set=list(values))


def _seconds(value: float) -> sql.Composable:
    return sql.SQL("make_interval(secs => {})").format(sql.Literal(float(value)))


def _freshness(suite: str, column: str, traffic: Traffic, max_age_min: float,
               what: str) -> tuple[list[Check], list[Skipped]]:
    name = "fresh"
    description = (f"while events flow, the newest {what} is at most {max_age_min:g} min old" if max_age_min > 0
                   else f"while events flow, the newest {what} is recent (off: max age 0)")
    after: datetime | None = traffic.fresh_after(timedelta(minutes=max_age_min))
    if after is None:
        if max_age_min <= 0:
            reason = "disabled (max age 0)"
        else:
            newest = traffic.newest_event_at.isoformat() if traffic.newest_event_at else "none"
            reason = f"no traffic: newest event {newest}, window {traffic.window} ({traffic.source})"
        return [], [Skipped(f"{suite}.{name}", suite, description, reason)]
    return [_sql(suite, name, description,
                 "SELECT max({col}) AS {newest}, {after} AS required_after FROM {{batch}} "
                 "HAVING coalesce(max({col}), '-infinity'::timestamptz) < {after}",
                 col=sql.Identifier(column), newest=sql.Identifier(f"newest_{column}"), after=after)], []


# --- alerts ----------------------------------------------------------------------------------------


def alerts_suite(t: Tables, th: Thresholds, traffic: Traffic) -> tuple[list[Check], list[Skipped]]:
    s = "alerts"
    checks = [
        *_key(s, "alert_id"),
        _in_set(s, "severity", SEVERITIES, "severity"),
        _in_set(s, "domain", DOMAINS, "domain"),
        _check(s, "first_before_last", gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
               "first_event_time <= last_event_time", column_A="last_event_time", column_B="first_event_time",
               or_equal=True),
        _sql(s, "persisted_after_event",
             f"persisted after the event that completed the pattern (clock skew {th.clock_skew_s:g} s allowed)",
             "SELECT alert_id, rule_id, entity, completing_event_time, persisted_at FROM {{batch}} "
             "WHERE persisted_at < completing_event_time - {skew}", skew=_seconds(th.clock_skew_s)),
        _sql(s, "belongs_to_incident",
             "every alert belongs to an existing incident unless an existing silence matched it",
             # three anti-joins (NOT EXISTS at the top of a WHERE), not a per-row CASE: hash joins on big slices
             "SELECT a.alert_id, a.rule_id, a.entity, a.incident_id, a.silence_id FROM (SELECT * FROM {{batch}}) a "
             "WHERE a.incident_id IS NULL AND a.silence_id IS NULL "
             "UNION ALL SELECT a.alert_id, a.rule_id, a.entity, a.incident_id, a.silence_id "
             "FROM (SELECT * FROM {{batch}}) a WHERE a.incident_id IS NOT NULL "
             "AND NOT EXISTS (SELECT 1 FROM {incidents} i WHERE i.incident_id = a.incident_id) "
             "UNION ALL SELECT a.alert_id, a.rule_id, a.entity, a.incident_id, a.silence_id "
             "FROM (SELECT * FROM {{batch}}) a WHERE a.incident_id IS NULL AND a.silence_id IS NOT NULL "
             "AND NOT EXISTS (SELECT 1 FROM {silences} x WHERE x.silence_id = a.silence_id)",
             incidents=t.incidents, silences=t.silences),
        _sql(s, "grouped_by_rule_and_entity",
             "an alert's incident has the alert's domain, rule and entity",
             "SELECT a.alert_id, a.incident_id, a.domain, a.rule_id, a.entity, i.domain AS incident_domain, "
             "i.rule_id AS incident_rule_id, i.entity AS incident_entity "
             "FROM (SELECT * FROM {{batch}}) a, {incidents} i WHERE i.incident_id = a.incident_id "
             "AND (i.domain, i.rule_id, i.entity) IS DISTINCT FROM (a.domain, a.rule_id, a.entity)",
             incidents=t.incidents),
        _check(s, "visible_within_target", gx.expectations.ExpectColumnValuesToBeBetween,
               f"at least {th.latency_min_share:.0%} of alerts visible within {th.latency_target_s:g} s of the "
               f"completing event (latency_s = persisted_at - completing event time)",
               column="latency_s", max_value=th.latency_target_s, mostly=th.latency_min_share),
    ]
    fresh, skipped = _freshness(s, "persisted_at", traffic, th.alerts_max_age_min, "alert")
    return checks + fresh, skipped


# --- incidents ---------------------------------------------------------------------------------------


def incidents_suite(t: Tables, th: Thresholds, traffic: Traffic) -> tuple[list[Check], list[Skipped]]:
    s = "incidents"
    checks = [
        *_key(s, "incident_id"),
        _in_set(s, "status", STATUSES, "status"),
        _in_set(s, "disposition", DISPOSITIONS, "disposition (when set)"),
        _in_set(s, "severity", SEVERITIES, "severity"),
        _in_set(s, "domain", INCIDENT_DOMAINS, "domain"),
        _check(s, "first_before_last", gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
               "first_seen <= last_seen", column_A="last_seen", column_B="first_seen", or_equal=True),
        _sql(s, "count_matches_alerts",
             "alert_count equals the incident's alerts and its alert_attached timeline events",
             # one grouped pass over the slice's alerts and events (not two lookups per incident)
             "SELECT incident_id, max(alert_count) AS alert_count, sum(linked) AS linked_alerts, "
             "sum(attached) AS attached_events FROM ("
             "SELECT b.incident_id, b.alert_count, 0 AS linked, 0 AS attached FROM (SELECT * FROM {{batch}}) b "
             "UNION ALL SELECT a.incident_id, NULL, 1, 0 FROM {alerts} a "
             "WHERE a.incident_id IN (SELECT incident_id FROM {{batch}}) "
             "UNION ALL SELECT e.incident_id, NULL, 0, 1 FROM {incident_events} e WHERE e.kind = 'alert_attached' "
             "AND e.incident_id IN (SELECT incident_id FROM {{batch}})) x GROUP BY incident_id "
             "HAVING max(alert_count) IS NOT NULL "
             "AND (max(alert_count) <> sum(linked) OR max(alert_count) <> sum(attached))",
             alerts=t.alerts, incident_events=t.incident_events),
        _sql(s, "span_covers_alerts",
             "first_seen/last_seen cover the first and last event times of the incident's alerts",
             "SELECT i.incident_id, i.first_seen, i.last_seen, x.first_event_time, x.last_event_time "
             "FROM (SELECT * FROM {{batch}}) i, (SELECT a.incident_id, min(a.first_event_time) AS first_event_time, "
             "max(a.last_event_time) AS last_event_time FROM {alerts} a "
             "WHERE a.incident_id IN (SELECT incident_id FROM {{batch}}) GROUP BY a.incident_id) x "
             "WHERE x.incident_id = i.incident_id "
             "AND (i.first_seen > x.first_event_time OR i.last_seen < x.last_event_time)",
             alerts=t.alerts),
        _sql(s, "one_active_per_rule_and_entity",
             "at most one unresolved incident per domain, rule and entity",
             "SELECT o.domain, o.rule_id, o.entity, count(*) AS active_incidents, "
             "array_agg(o.incident_id ORDER BY o.incident_id) AS incident_ids FROM {incidents} o "
             "WHERE o.status <> 'resolved' AND (o.domain, o.rule_id, o.entity) IN "
             "(SELECT domain, rule_id, entity FROM {{batch}}) GROUP BY o.domain, o.rule_id, o.entity "
             "HAVING count(*) > 1", incidents=t.incidents),
        _sql(s, "status_matches_timeline",
             "status equals the to_status of the incident's last status change in its timeline",
             "SELECT i.incident_id, i.status, x.to_status AS timeline_status, x.event_id AS last_change "
             "FROM (SELECT * FROM {{batch}}) i, (SELECT DISTINCT ON (e.incident_id) e.incident_id, e.to_status, "
             "e.event_id FROM {incident_events} e WHERE e.to_status IS NOT NULL "
             "AND e.incident_id IN (SELECT incident_id FROM {{batch}}) ORDER BY e.incident_id, e.event_id DESC) x "
             "WHERE x.incident_id = i.incident_id AND x.to_status <> i.status "
             "UNION ALL SELECT i.incident_id, i.status, NULL, NULL FROM (SELECT * FROM {{batch}}) i "
             "WHERE NOT EXISTS (SELECT 1 FROM {incident_events} e WHERE e.incident_id = i.incident_id "
             "AND e.to_status IS NOT NULL)", incident_events=t.incident_events),
    ]
    return checks, []


# --- incident_events ------------------------------------------------------------------------------


def incident_events_suite(t: Tables, th: Thresholds, traffic: Traffic) -> tuple[list[Check], list[Skipped]]:
    s = "incident_events"
    checks = [
        *_key(s, "event_id"),
        _in_set(s, "kind", EVENT_KINDS, "kind"),
        _in_set(s, "from_status", STATUSES, "from_status (when set)"),
        _in_set(s, "to_status", STATUSES, "to_status (when set)"),
        _sql(s, "belongs_to_incident", "every event belongs to an existing incident",
             "SELECT e.event_id, e.incident_id, e.kind FROM (SELECT * FROM {{batch}}) e "
             "WHERE NOT EXISTS (SELECT 1 FROM {incidents} i WHERE i.incident_id = e.incident_id)",
             incidents=t.incidents),
        _sql(s, "after_opening",
             "no event happens before its incident was opened, or in the future",
             "SELECT e.event_id, e.incident_id, e.kind, e.happened_at, o.opened_at "
             "FROM (SELECT * FROM {{batch}}) e, (SELECT x.incident_id, min(x.happened_at) AS opened_at "
             "FROM {incident_events} x WHERE x.kind = 'opened' "
             "AND x.incident_id IN (SELECT incident_id FROM {{batch}}) GROUP BY x.incident_id) o "
             "WHERE o.incident_id = e.incident_id AND e.happened_at < o.opened_at "
             "UNION ALL SELECT e.event_id, e.incident_id, e.kind, e.happened_at, NULL FROM (SELECT * FROM {{batch}}) e "
             "WHERE e.happened_at > now() + {skew}",
             incident_events=t.incident_events, skew=_seconds(th.clock_skew_s)),
        _sql(s, "attached_alert_matches",
             "an alert_attached event names an alert of the same incident",
             "SELECT e.event_id, e.incident_id, e.alert_id, a.incident_id AS alert_incident_id "
             "FROM (SELECT * FROM {{batch}}) e, {alerts} a WHERE e.kind = 'alert_attached' "
             "AND a.alert_id = e.alert_id AND a.incident_id IS DISTINCT FROM e.incident_id "
             "UNION ALL SELECT e.event_id, e.incident_id, e.alert_id, NULL FROM (SELECT * FROM {{batch}}) e "
             "WHERE e.kind = 'alert_attached' AND NOT EXISTS (SELECT 1 FROM {alerts} a WHERE a.alert_id = e.alert_id)",
             alerts=t.alerts),
    ]
    return checks, []


# --- scaling_events ---------------------------------------------------------------------------------


def scaling_events_suite(t: Tables, th: Thresholds, traffic: Traffic) -> tuple[list[Check], list[Skipped]]:
    s = "scaling_events"
    checks = [
        *_key(s, "id"),
        _in_set(s, "action", SCALING_ACTIONS, "action"),
        _in_set(s, "outcome", SCALING_OUTCOMES, "outcome (when set)"),
        _in_set(s, "domain", DOMAINS, "domain"),
        _check(s, "rescaled_after_decision", gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
               "rescaled_at (when set) >= decided_at", column_A="rescaled_at", column_B="decided_at",
               or_equal=True, ignore_row_if="either_value_is_missing"),
        _check(s, "drained_after_decision", gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
               "drained_at (when set) >= decided_at", column_A="drained_at", column_B="decided_at",
               or_equal=True, ignore_row_if="either_value_is_missing"),
        _sql(s, "direction_matches_action",
             "scale_up raises the parallelism, scale_down lowers it, hold keeps it",
             "SELECT id, domain, action, from_parallelism, to_parallelism FROM {{batch}} WHERE "
             "(action = 'scale_up' AND to_parallelism <= from_parallelism) OR "
             "(action = 'scale_down' AND to_parallelism >= from_parallelism) OR "
             "(action = 'hold' AND to_parallelism <> from_parallelism)"),
        _sql(s, "outcome_has_its_time",
             "a rescaled decision has rescaled_at, a drained one drained_at",
             "SELECT id, domain, action, outcome, rescaled_at, drained_at FROM {{batch}} WHERE "
             "(outcome = 'rescaled' AND rescaled_at IS NULL) OR (outcome = 'drained' AND drained_at IS NULL)"),
    ]
    fresh, skipped = _freshness(s, "decided_at", traffic, th.scaling_max_age_min, "scaling decision")
    return checks + fresh, skipped


SUITES: dict[str, SuiteSpec] = {
    "alerts": SuiteSpec("alerts", "alerts", "alert_id", alerts_suite),
    "incidents": SuiteSpec("incidents", "incidents", "incident_id", incidents_suite),
    "incident_events": SuiteSpec("incident_events", "incident_events", "event_id", incident_events_suite),
    "scaling_events": SuiteSpec("scaling_events", "scaling_events", "id", scaling_events_suite),
}
