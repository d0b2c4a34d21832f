"""The suites as code: stable check ids, scoped batches, SQL that GX substitutes the same way every time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql

from include.gx import assets
from include.gx.parameters import Scope, Thresholds, Traffic
from include.gx.suites import SUITES, Check

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
FLOWING = Traffic(NOW, NOW - timedelta(seconds=30))
QUIET = Traffic(NOW, None)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "quality.md"


def _all(traffic: Traffic = FLOWING, thresholds: Thresholds | None = None) -> list[Check]:
    th = thresholds or Thresholds(scaling_max_age_min=30)
    out: list[Check] = []
    for spec in SUITES.values():
        checks, _ = spec.build(Scope().tables, th, traffic)
        out.extend(checks)
    return out


def test_check_ids_are_unique_stable_and_name_their_suite() -> None:
    checks = _all()
    ids = [c.check_id for c in checks]
    assert len(ids) == len(set(ids))
    for c in checks:
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", c.check_id), c.check_id
        assert c.check_id.startswith(c.suite + ".")
        assert c.expectation.meta["check_id"] == c.check_id
        assert c.description and c.description != c.check_id


def test_the_issue_s_checks_are_there() -> None:
    ids = {c.check_id for c in _all()}
    assert {
        "alerts.alert_id_present", "alerts.alert_id_unique", "incidents.incident_id_unique",
        "incident_events.event_id_unique", "scaling_events.id_unique",  # keys present and unique
        "incidents.status_in_set", "incidents.disposition_in_set",  # statuses and dispositions from their sets
        "alerts.first_before_last", "incidents.first_before_last", "alerts.persisted_after_event",  # time order
        "alerts.belongs_to_incident",  # every alert in an incident unless silenced
        "incidents.count_matches_alerts",  # counts match their alerts
        "alerts.fresh", "scaling_events.fresh",  # freshness while traffic flows
        "alerts.visible_within_target",  # latency
    } <= ids


def test_every_check_is_documented() -> None:
    text = DOCS.read_text()
    missing = [c.check_id for c in _all() if f"`{c.check_id}`" not in text]
    assert not missing, f"docs/quality.md does not describe {missing}"


def test_sql_checks_use_the_batch_and_never_the_join_keyword() -> None:
    """GX substitutes {batch} without an alias when the query says JOIN; ours never do (see suites._sql)."""
    for c in _all():
        query = getattr(c.expectation, "unexpected_rows_query", None)
        if query is None:
            continue
        assert query.count("{batch}") >= 1, c.check_id
        assert not re.search(r"\bJOIN\b", query, re.IGNORECASE), c.check_id
        assert "{" not in query.replace("{batch}", ""), f"{c.check_id}: stray brace would break GX's format()"


def test_freshness_is_judged_only_while_traffic_flows() -> None:
    th = Thresholds(scaling_max_age_min=30)
    for traffic, expect_fresh in ((FLOWING, True), (QUIET, False)):
        checks, skipped = SUITES["alerts"].build(Scope().tables, th, traffic)
        assert ("alerts.fresh" in {c.check_id for c in checks}) is expect_fresh
        assert ("alerts.fresh" in {s.check_id for s in skipped}) is not expect_fresh
    _, skipped = SUITES["scaling_events"].build(Scope().tables, Thresholds(), FLOWING)
    assert [(s.check_id, s.reason) for s in skipped] == [("scaling_events.fresh", "disabled (max age 0)")]
    checks, _ = SUITES["alerts"].build(Scope().tables, th, FLOWING)
    fresh = next(c for c in checks if c.check_id == "alerts.fresh").expectation.unexpected_rows_query
    assert "'2026-11-26 09:44:30+00:00'::timestamptz" in fresh  # newest event − 15 min


def test_latency_expectation_uses_the_thresholds() -> None:
    checks = _all(thresholds=Thresholds(latency_target_s=2.5, latency_min_share=0.9))
    latency = next(c for c in checks if c.check_id == "alerts.visible_within_target").expectation
    assert (latency.column, latency.max_value, latency.mostly) == ("latency_s", 2.5, 0.9)
    assert "90%" in latency.description and "2.5 s" in latency.description


def test_batches_are_scoped_by_window_rules_and_jobs() -> None:
    scope = Scope(schema="dq_sandbox_x", since=NOW - timedelta(hours=2), until=NOW, rule_ids=("r1", "r2"),
                  scaling_job_ids=("job-1",))
    alerts = assets.alerts(scope)
    assert 'FROM "dq_sandbox_x"."alerts" a' in alerts
    assert "a.persisted_at >= '2026-11-26 08:00:00+00:00'::timestamptz" in alerts
    assert "a.persisted_at < '2026-11-26 10:00:00+00:00'::timestamptz" in alerts
    assert "a.rule_id IN ('r1', 'r2')" in alerts
    assert "CASE WHEN c.completing_event_time >= '2026-11-26 08:00:00+00:00'::timestamptz" in alerts
    assert "EXISTS (SELECT 1 FROM \"dq_sandbox_x\".\"incident_events\" e" in assets.incidents(scope)
    assert "e.happened_at >= " in assets.incident_events(scope)
    assert "s.job_id IN ('job-1')" in assets.scaling_events(scope)
    full = Scope()
    assert assets.alerts(full).endswith("WHERE true")
    assert "CASE WHEN" not in assets.alerts(full).split("AS latency_s")[0].split("c.completing_event_time,")[1]


@pytest.mark.parametrize("evil", ["x') OR true --", "it's", "{batch}", "%s", "a\\b"])
def test_ids_are_quoted_literals_never_sql(evil: str) -> None:
    query = assets.alerts(Scope(rule_ids=(evil,)))
    assert f"a.rule_id IN ({sql.Literal(evil).as_string(None)})" in query


def test_completing_time_of_an_absence_alert_adds_its_silence() -> None:
    sql_text = assets.COMPLETING_EVENT_TIME.as_string(None)
    assert "evidence -> 'silence_s'" in sql_text and "last_event_time + make_interval" in sql_text
