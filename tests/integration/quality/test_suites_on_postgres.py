"""The suites on the real PostgreSQL: a clean run passes everything; each corruption fails exactly its check.

Corruptions are applied to a sandbox copy of the clean run (never to ``public``). Only what the
schema's own constraints allow can be corrupted; ``test_the_schema_already_refuses`` shows the rest
is refused by PostgreSQL itself (those expectations stay in the suites as a second line).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.rows import dict_row

from include.gx.parameters import Scope, Thresholds, Traffic
from include.gx.suites import SUITES
from include.patternalarm.quality import report, run_suites, store_run
from include.patternalarm.settings import Settings
from tests.integration.quality.conftest import TEST_THRESHOLDS, CleanRun

ALL_CHECKS = 39  # 38 + scaling_events.fresh (on in the tests)


def _key_values(rows: list[dict], key: str) -> set:
    return {row[key] for row in rows}


def test_a_clean_run_passes_every_expectation(stack_settings: Settings, clean_run: CleanRun,
                                              traffic: Traffic) -> None:
    run = run_suites(stack_settings.db_conninfo("control"), clean_run.scope(), TEST_THRESHOLDS, traffic)
    assert run.success, run.failure_report()
    assert not run.skipped, [r.check_id for r in run.skipped]  # freshness judged too: traffic flows
    assert len(run.evaluated) == ALL_CHECKS
    # it looked at the run's rows: all alerts, the silenced ones included, every incident of ours
    unique_alerts = next(r for r in run.results if r.check_id == "alerts.alert_id_unique")
    assert unique_alerts.element_count == len(clean_run.alert_ids)
    unique_incidents = next(r for r in run.results if r.check_id == "incidents.incident_id_unique")
    assert unique_incidents.element_count == len(clean_run.incidents)


# Each corruption: (check it must fail, key column, SQL on the sandbox; ``{s}`` = the schema). Written
# against the clean run's shape: incidents of card-0..5 (card-0 acknowledged), acct-0..2 (acct-0
# resolved), dev-0..2, one platform incident, silenced muted-0..2, three scaling decisions.
def _corrupt(conn: psycopg.Connection, s: str, run: CleanRun) -> dict[str, tuple[str, set]]:
    tag = run.rule_ids[0].rsplit("-card_testing", 1)[0]
    ident = sql.Identifier(s)

    def one(query: str, *params: object) -> object:
        row = conn.execute(sql.SQL(query).format(s=ident), params).fetchone()
        assert row is not None, query
        return next(iter(row.values()))

    def incident(entity: str) -> int:
        return one("SELECT incident_id FROM {s}.incidents WHERE entity = %s", f"{tag}-{entity}")

    expected: dict[str, tuple[str, set]] = {}
    # an incident whose count disagrees with its alerts
    i = one("UPDATE {s}.incidents SET alert_count = alert_count + 1 WHERE incident_id = %s RETURNING incident_id",
            incident("card-3"))
    expected["incidents.count_matches_alerts"] = ("incident_id", {i})
    # impossible timestamps: a (silenced) alert whose completing event is an hour after it was stored
    a = one("UPDATE {s}.alerts SET first_event_time = first_event_time + interval '1 hour', "
            "last_event_time = last_event_time + interval '1 hour' WHERE entity = %s RETURNING alert_id",
            f"{tag}-muted-1")
    expected["alerts.persisted_after_event"] = ("alert_id", {a})
    # an orphan alert: stored, but neither grouped nor silenced
    orphan = "f" * 64
    one("INSERT INTO {s}.alerts (alert_id, rule_id, rule_version, domain, entity, severity, first_event_time, "
        "last_event_time, detected_at, evidence, persisted_at) SELECT %s, rule_id, rule_version, domain, %s, "
        "severity, first_event_time, last_event_time, detected_at, evidence, persisted_at FROM {s}.alerts "
        "WHERE entity = %s LIMIT 1 RETURNING alert_id", orphan, f"{tag}-orphan", f"{tag}-card-5")
    expected["alerts.belongs_to_incident"] = ("alert_id", {orphan})
    # an alert attached to another entity's incident
    a = one("UPDATE {s}.alerts SET entity = %s WHERE alert_id = (SELECT min(alert_id) FROM {s}.alerts "
            "WHERE entity = %s) RETURNING alert_id", f"{tag}-card-x", f"{tag}-card-5")
    expected["alerts.grouped_by_rule_and_entity"] = ("alert_id", {a})
    # an incident whose first_seen is later than its first alert's first event
    i = incident("card-4")
    one("UPDATE {s}.incidents i SET first_seen = (SELECT min(first_event_time) FROM {s}.alerts a "
        "WHERE a.incident_id = i.incident_id) + interval '1 millisecond' WHERE incident_id = %s "
        "RETURNING incident_id", i)
    expected["incidents.span_covers_alerts"] = ("incident_id", {i})
    # a status the timeline never set
    i = one("UPDATE {s}.incidents SET status = 'acknowledged', acknowledged_at = now() WHERE incident_id = %s "
            "RETURNING incident_id", incident("card-2"))
    expected["incidents.status_matches_timeline"] = ("incident_id", {i})
    # a timeline event an hour before its incident was opened
    e = one("UPDATE {s}.incident_events SET happened_at = happened_at - interval '1 hour' WHERE event_id = "
            "(SELECT max(event_id) FROM {s}.incident_events WHERE incident_id = %s AND kind = 'alert_attached') "
            "RETURNING event_id", incident("card-1"))
    expected["incident_events.after_opening"] = ("event_id", {e})
    # an alert_attached event naming an alert of another incident
    e = one("UPDATE {s}.incident_events SET alert_id = (SELECT min(alert_id) FROM {s}.alerts WHERE incident_id = %s) "
            "WHERE event_id = (SELECT min(event_id) FROM {s}.incident_events WHERE incident_id = %s "
            "AND kind = 'alert_attached') RETURNING event_id", incident("dev-1"), incident("dev-0"))
    expected["incident_events.attached_alert_matches"] = ("event_id", {e})
    # a status outside the set where the schema does not check it
    e = one("UPDATE {s}.incident_events SET from_status = 'reviewing' WHERE incident_id = %s AND kind = 'assigned' "
            "RETURNING event_id", incident("acct-1"))
    expected["incident_events.from_status_in_set"] = ("event_id", {e})
    # slow alerts: a third of them became visible 10 s later (the share on time drops below 95 %)
    slow = conn.execute(sql.SQL(
        "UPDATE {s}.alerts SET persisted_at = persisted_at + interval '10 seconds' WHERE alert_id IN "
        "(SELECT alert_id FROM {s}.alerts WHERE entity LIKE %s ORDER BY alert_id LIMIT 8) RETURNING alert_id"
    ).format(s=ident), (f"{tag}-acct-%",)).fetchall()
    expected["alerts.visible_within_target"] = ("alert_id", {r["alert_id"] for r in slow})
    # scaling decisions: scale_up that lowers, drained without drained_at, an unknown domain
    e = one("UPDATE {s}.scaling_events SET to_parallelism = 1 WHERE job_id = %s AND action = 'scale_up' "
            "RETURNING id", run.job_id)
    expected["scaling_events.direction_matches_action"] = ("id", {e})
    e = one("UPDATE {s}.scaling_events SET drained_at = NULL WHERE job_id = %s AND outcome = 'drained' "
            "RETURNING id", run.job_id)
    expected["scaling_events.outcome_has_its_time"] = ("id", {e})
    e = one("UPDATE {s}.scaling_events SET domain = 'bogus' WHERE job_id = %s AND action = 'hold' RETURNING id",
            run.job_id)
    expected["scaling_events.domain_in_set"] = ("id", {e})
    return expected


def test_each_corruption_fails_exactly_its_expectation(stack_settings: Settings, owner: psycopg.Connection,
                                                       make_sandbox, clean_run: CleanRun, traffic: Traffic,
                                                       tmp_path: Path) -> None:
    schema = make_sandbox()
    clean = run_suites(stack_settings.db_conninfo("control"), clean_run.scope(schema, full=True), TEST_THRESHOLDS,
                       traffic)
    assert clean.success, f"the copy itself must pass:\n{clean.failure_report()}"

    expected = _corrupt(owner, schema, clean_run)
    run = run_suites(stack_settings.db_conninfo("control"), clean_run.scope(schema, full=True), TEST_THRESHOLDS,
                     traffic, site_dir=report.site_dir(tmp_path))
    failed = {r.check_id: r for r in run.broken}
    assert set(failed) == set(expected), run.failure_report()
    assert all(r.status == "failed" for r in failed.values()), run.failure_report()  # failed, not errored
    for check_id, (key, keys) in expected.items():
        result = failed[check_id]
        assert _key_values(result.sample, key) == keys, f"{check_id}: sample {result.sample} != {keys}"
        assert result.unexpected_count == len(keys)

    # the run is stored in dq_runs / dq_results (as the control role) and rendered
    page = report.write_report(run, tmp_path, dag_id="test", dag_run_id="test-corruptions")
    with psycopg.connect(stack_settings.db_conninfo("control")) as conn:
        store_run(conn, run, dag_id="test", dag_run_id="test-corruptions")
    with psycopg.connect(stack_settings.db_conninfo("reporting"), row_factory=dict_row) as reader:
        stored = reader.execute("SELECT * FROM dq_runs WHERE run_id = %s", (run.run_id,)).fetchone()
        rows = reader.execute("SELECT check_id, status, unexpected_count, sample FROM dq_results WHERE run_id = %s",
                              (run.run_id,)).fetchall()
    assert (stored["success"], stored["failed"], stored["evaluated"]) == (False, len(expected), ALL_CHECKS)
    assert stored["scope"]["schema"] == schema and stored["recorded_by"] == "patternalarm_control"
    assert {r["check_id"] for r in rows if r["status"] == "failed"} == set(expected)
    counts = {r["check_id"]: r["unexpected_count"] for r in rows}
    assert counts["incidents.count_matches_alerts"] == 1
    orphan = next(r for r in rows if r["check_id"] == "alerts.belongs_to_incident")
    assert orphan["sample"][0]["alert_id"] == "f" * 64

    html = page.read_text()
    assert "f" * 64 in html and "incidents.count_matches_alerts" in html
    assert set(run.docs) == set(SUITES)
    relative = json.loads((page.parent / "summary.json").read_text())["docs_relative"]
    assert all((page.parent / link).resolve().is_file() for link in relative.values()), relative
    secret = stack_settings.secret("db_control_password")
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and secret in p.read_text(errors="ignore")]
    assert not leaked, f"the database password ended up in {leaked}"


def test_a_stale_table_fails_freshness_while_traffic_flows(stack_settings: Settings, owner: psycopg.Connection,
                                                           make_sandbox, clean_run: CleanRun,
                                                           traffic: Traffic) -> None:
    """The same rows, two hours older: everything still holds except that nothing new arrived."""
    schema = make_sandbox()
    shift = {"alerts": ("first_event_time", "last_event_time", "detected_at", "persisted_at"),
             "incidents": ("first_seen", "last_seen"), "incident_events": ("happened_at",),
             "scaling_events": ("decided_at", "rescaled_at", "drained_at")}
    with owner.transaction():
        for table, columns in shift.items():
            owner.execute(sql.SQL("UPDATE {} SET {}").format(sql.Identifier(schema, table), sql.SQL(", ").join(
                sql.SQL("{c} = {c} - interval '2 hours'").format(c=sql.Identifier(c)) for c in columns)))
    conninfo = stack_settings.db_conninfo("control")
    run = run_suites(conninfo, clean_run.scope(schema, full=True), TEST_THRESHOLDS, traffic)
    assert {r.check_id for r in run.broken} == {"alerts.fresh", "scaling_events.fresh"}, run.failure_report()
    fresh = next(r for r in run.broken if r.check_id == "alerts.fresh")
    assert fresh.sample and fresh.sample[0]["required_after"] > fresh.sample[0]["newest_persisted_at"]
    # without traffic the same table is not stale: freshness is skipped, not failed
    quiet = run_suites(conninfo, clean_run.scope(schema, full=True), TEST_THRESHOLDS,
                       Traffic(datetime.now(UTC), None, source="test: no traffic"))
    assert quiet.success, quiet.failure_report()
    assert {r.check_id for r in quiet.skipped} == {"alerts.fresh", "scaling_events.fresh"}


@pytest.mark.parametrize(("statement", "error"), [
    ("UPDATE {s}.alerts SET last_event_time = first_event_time - interval '1 second'", errors.CheckViolation),
    ("UPDATE {s}.alerts SET severity = 'urgent'", errors.CheckViolation),
    ("UPDATE {s}.alerts SET incident_id = 999999999 WHERE silence_id IS NULL", errors.ForeignKeyViolation),
    ("UPDATE {s}.incidents SET status = 'closed'", errors.CheckViolation),
    ("UPDATE {s}.incidents SET disposition = 'maybe'", errors.CheckViolation),
    ("UPDATE {s}.incidents SET last_seen = first_seen - interval '1 second'", errors.CheckViolation),
    ("INSERT INTO {s}.incidents (domain, rule_id, entity, severity, first_seen, last_seen) SELECT domain, rule_id, "
     "entity, severity, first_seen, last_seen FROM {s}.incidents WHERE status = 'open' LIMIT 1",
     errors.UniqueViolation),
    ("UPDATE {s}.incident_events SET kind = 'commented'", errors.CheckViolation),
    ("UPDATE {s}.scaling_events SET rescaled_at = decided_at - interval '1 second' WHERE rescaled_at IS NOT NULL",
     errors.CheckViolation),
])
def test_the_schema_already_refuses(owner: psycopg.Connection, make_sandbox, statement: str,
                                    error: type[Exception]) -> None:
    """What the constraints forbid cannot be corrupted; the matching expectations are a second line."""
    schema = make_sandbox()
    with pytest.raises(error):
        owner.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


def test_scope_keeps_other_writers_rows_out(stack_settings: Settings, clean_run: CleanRun, traffic: Traffic) -> None:
    """Scoped to rules nobody wrote, every suite looks at zero rows of the shared tables (and passes)."""
    scope = Scope(since=clean_run.started_at, until=datetime.now(UTC) + timedelta(seconds=1),
                  rule_ids=("no-such-rule-" + clean_run.job_id,), scaling_job_ids=("no-such-job",))
    run = run_suites(stack_settings.db_conninfo("control"), scope, Thresholds(), traffic,
                     suites=("alerts", "incidents", "scaling_events"))
    counts = {r.check_id: r.element_count for r in run.results if r.check_id.endswith("_unique")}
    assert counts == {"alerts.alert_id_unique": 0, "incidents.incident_id_unique": 0, "scaling_events.id_unique": 0}
    # an empty slice while traffic flows is stale: no alert arrived in the window
    assert [r.check_id for r in run.broken] == ["alerts.fresh"]
